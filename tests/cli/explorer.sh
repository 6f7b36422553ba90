# The explorer (issue 12; docs/explorer.md) served by a real node:
#   - static files embedded in the binary at /: types, ETag/304,
#     Cache-Control, a strict Content-Security-Policy, nosniff; anything but
#     an exact file name outside /v1/ is a 404 (traversal, %00, a long path),
#     other methods 405;
set -e
. "$LIB"
trap stop_all EXIT
$PLOW wallet new --key req.key -q >req.addr
$PLOW node init --data n --out-genesis g.json --fund "$(cat req.addr)=1000000" >/dev/null
start_node n node.log --genesis g.json --block-ms 100 --quiet

# hdr FILE NAME: the value of header NAME in a curl -D dump
hdr() { tr -d '\r' <"$1" | sed -n "s/^$2: //Ip" | head -n 1; }
# get PATH [curl args]: CODE, headers in h.txt, body in b.txt
get() {
    p=$1
    shift
    rm -f b.txt
    CODE=$(curl -s --path-as-is -D h.txt -o b.txt -w '%{http_code}' "$@" "$URL$p")
}

# ---- static files -----------------------------------------------------------
for f in / /index.html /app.js /style.css; do
    get "$f"
    [ "$CODE" = 200 ] || fail "GET $f: $CODE"
    case $f in
    / | /index.html) want='text/html; charset=utf-8' src=index.html ;;
    /app.js) want='text/javascript; charset=utf-8' src=app.js ;;
    /style.css) want='text/css; charset=utf-8' src=style.css ;;
    esac
    [ "$(hdr h.txt Content-Type)" = "$want" ] || fail "GET $f: Content-Type '$(hdr h.txt Content-Type)', expected '$want'"
    cmp -s b.txt "$ROOT/www/$src" || fail "GET $f: not the bytes of www/$src"
    csp=$(hdr h.txt Content-Security-Policy)
    case $csp in *"default-src 'none'"*"script-src 'self';"*"style-src 'self';"*"connect-src 'self';"*) ;;
    *) fail "GET $f: Content-Security-Policy '$csp'" ;; esac
    case $csp in *unsafe* | *"*"* | *http:* | *https:*) fail "GET $f: the CSP allows too much: $csp" ;; esac
    [ "$(hdr h.txt X-Content-Type-Options)" = nosniff ] || fail "GET $f: no nosniff"
    [ "$(hdr h.txt Cache-Control)" = no-cache ] || fail "GET $f: Cache-Control '$(hdr h.txt Cache-Control)'"
    tag=$(hdr h.txt ETag)
    case $tag in '"'????????????????'"') ;; *) fail "GET $f: ETag '$tag'" ;; esac
    get "$f" -H "If-None-Match: $tag"
    [ "$CODE" = 304 ] && [ ! -s b.txt ] || fail "GET $f with its ETag: $CODE, $(wc -c <b.txt) bytes"
    get "$f" -H 'If-None-Match: "0000000000000000"'
    [ "$CODE" = 200 ] || fail "GET $f with another ETag: $CODE"
done
# the page loads no inline script or style and nothing from elsewhere
if grep -Eqi '<script>|<script [^>]*>[^<]|<style|style=| on[a-z]+=|https?://' "$ROOT/www/index.html"; then
    fail "www/index.html has inline script/style or an outside URL"
fi
# uPlot: served when the build found it in node_modules, else the page says plots are unavailable
if [ -f "$ROOT/node_modules/uplot/dist/uPlot.iife.min.js" ]; then
    get /uPlot.iife.min.js
    [ "$CODE" = 200 ] && cmp -s b.txt "$ROOT/node_modules/uplot/dist/uPlot.iife.min.js" || fail "uPlot not served: $CODE"
    get /uPlot.min.css
    [ "$(hdr h.txt Content-Type)" = 'text/css; charset=utf-8' ] || fail "uPlot.min.css: $(hdr h.txt Content-Type)"
fi
# HEAD: the headers, no body
CODE=$(curl -s -I -o h.txt -w '%{http_code}' "$URL/app.js")
[ "$CODE" = 200 ] && [ "$(hdr h.txt Content-Length)" = "$(wc -c <"$ROOT/www/app.js" | tr -d ' ')" ] ||
    fail "HEAD /app.js: $CODE, length $(hdr h.txt Content-Length)"
# the API's replies carry nosniff too
get /v1/status
[ "$(hdr h.txt X-Content-Type-Options)" = nosniff ] || fail "/v1/status: no nosniff"

# ---- malformed and hostile paths: 404 with an error JSON, never a file -----------
long=/$(head -c 3000 /dev/zero | tr '\0' a)
for p in /../ /../../etc/passwd /%2e%2e/%2e%2e/etc/passwd /app.js/ /app.js%00 /%00 /%00app.js /index.html%00.png \
    //app.js /./app.js /APP.JS /app.js.map /www/app.js /node.url /v1 /v1/ /v1/../app.js /x "$long"; do
    get "$p"
    [ "$CODE" = 404 ] || fail "GET $p: $CODE, expected 404: $(head -c 200 b.txt)"
    grep -q '^{"error":"' b.txt || fail "GET $p: no error JSON: $(head -c 200 b.txt)"
done
for m in POST PUT DELETE; do
    CODE=$(curl -s -o b.txt -w '%{http_code}' -X $m "$URL/app.js")
    [ "$CODE" = 405 ] || fail "$m /app.js: $CODE, expected 405"
done
echo "static files: ok"
