// harness.mjs — what the browser tests share: the node's API as JSON, checks
// that print and count their failures, and Debian's headless Chromium driven
// by puppeteer-core (nothing downloads a browser).
import puppeteer from 'puppeteer-core';

// api(url)(path): the JSON answer of GET url+path; throws on an HTTP error
export const api = url => async p => {
  const r = await fetch(url + p);
  if (!r.ok) throw new Error(p + ': HTTP ' + r.status);
  return r.json();
};

// checks.check(ok, what) prints ok/FAIL and counts; checks.failures
export const checks = {
  failures: 0,
  check(ok, what) {
    console.log((ok ? 'ok   ' : 'FAIL ') + what);
    if (!ok) this.failures++;
    return ok;
  },
};

// launch(extra): Chromium headless, options of puppeteer.launch added
export const launch = (extra = {}) => puppeteer.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--no-first-run'],
  ...extra,
});
