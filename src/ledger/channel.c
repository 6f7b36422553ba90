/*
 * channel.c — payment channels (docs/ledger.md, "Payment channels"): a
 * client deposits for one worker, pays per request off-chain with signed
 * cumulative vouchers, and the worker redeems the latest one. Rows CO*, CR*,
 * CC* of the rules table, in order.
 *
 * Why nobody gains by cheating:
 *   - a voucher is the client's signature over (chain, channel, cumulative
 *     amount): the worker cannot raise the amount (CR4), and redeeming pays
 *     only amount - redeemed, so an old voucher or the same one again pays
 *     nothing and is refused (CR6);
 *   - no voucher redeems more than the deposit (CR5), so the client never
 *     owes more than it locked;
 *   - the client cannot run away with the worker's earnings: its close only
 *     starts a dispute window (dispute_blocks, fixed at open) in which the
 *     worker redeems its latest voucher (CR3); the refund comes after it;
 *   - the worker cannot hold the deposit hostage: the client's close always
 *     ends after the window, and after the close nothing is redeemed (CR3).
 */
#include "../base/plow.h"

#include <inttypes.h>

#include "ledger_internal.h"

void ledger_voucher_digest(const uint8_t chain_id[32], const uint8_t channel[32], uint64_t amount, uint8_t out[32]) {
    static const char domain[] = "plow/voucher/v1";
    uint8_t a[8];
    plow_put_u64(a, amount);
    plow_sha256 *h = plow_sha256_new();
    plow_sha256_update(h, domain, sizeof domain); /* with its NUL */
    plow_sha256_update(h, chain_id, 32);
    plow_sha256_update(h, channel, 32);
    plow_sha256_update(h, a, 8);
    plow_sha256_final(h, out);
}

void ledger_voucher_sign(const ledger_key *client, const uint8_t chain_id[32], const uint8_t channel[32],
                         uint64_t amount, uint8_t sig[LEDGER_SIG_LEN]) {
    uint8_t d[32];
    ledger_voucher_digest(chain_id, channel, amount, d);
    ledger_sign(client, d, sizeof d, sig);
}

bool ledger_voucher_ok(const uint8_t client[LEDGER_PK_LEN], const uint8_t chain_id[32], const uint8_t channel[32],
                       uint64_t amount, const uint8_t sig[LEDGER_SIG_LEN]) {
    uint8_t d[32];
    ledger_voucher_digest(chain_id, channel, amount, d);
    return ledger_verify_sig(client, d, sizeof d, sig);
}

void ledger_voucher_format(const uint8_t channel[32], uint64_t amount, const uint8_t sig[LEDGER_SIG_LEN],
                           char out[LEDGER_VOUCHER_STR_LEN]) {
    char ch[65], sg[2 * LEDGER_SIG_LEN + 1];
    plow_hex(channel, 32, ch);
    plow_hex(sig, LEDGER_SIG_LEN, sg);
    snprintf(out, LEDGER_VOUCHER_STR_LEN, "plowv1.%s.%" PRIu64 ".%s", ch, amount, sg);
}

int ledger_voucher_parse(const char *s, uint8_t channel[32], uint64_t *amount, uint8_t sig[LEDGER_SIG_LEN],
                         char err[PLOW_ERR_LEN]) {
    if (!s || strncmp(s, "plowv1.", 7) != 0) return plow_error(err, "a voucher starts with 'plowv1.'");
    s += 7;
    const char *d1 = strchr(s, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d2 || d1 - s != 64 || strlen(d2 + 1) != 2 * LEDGER_SIG_LEN || d2 - d1 - 1 < 1 || d2 - d1 - 1 > 20)
        return plow_error(err, "a voucher is plowv1.CHANNEL(64 hex).AMOUNT.SIGNATURE(128 hex)");
    char num[21], ch[65];
    memcpy(ch, s, 64);
    ch[64] = 0;
    memcpy(num, d1 + 1, (size_t)(d2 - d1 - 1));
    num[d2 - d1 - 1] = 0;
    if (plow_unhex(ch, channel, 32) || plow_unhex(d2 + 1, sig, LEDGER_SIG_LEN))
        return plow_error(err, "a voucher's channel and signature are hex digits");
    if (!plow_parse_u64(num, amount)) return plow_error(err, "a voucher's amount is a whole number");
    return 0;
}

static ledger_channel *get_channel(txn *x, const uint8_t id[32]) {
    srec *r = txn_get(x, TAG_CHANNEL, id);
    return r ? &r->v.h : NULL;
}

int body_channel_open(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    const uint8_t *worker = tx->u.chan_open.worker;
    uint64_t deposit = tx->u.chan_open.deposit;
    uint32_t blocks = tx->u.chan_open.dispute_blocks;
    if (eq32(worker, tx->sender)) return plow_error(err, "channel_open: a channel to oneself");
    if (is_zero(worker, 32)) return plow_error(err, "channel_open: no worker");
    if (deposit == 0) return plow_error(err, "channel_open: the deposit must be positive");
    if (blocks < 1 || blocks > TASK_BLOCKS_MAX)
        return plow_error(err, "channel_open: dispute_blocks is %" PRIu32 ", must be in 1..%u", blocks, TASK_BLOCKS_MAX);
    ledger_account *c = get_account(x, tx->sender);
    if (c->balance < deposit)
        return plow_error(err, "channel_open: balance %" PRIu64 " is less than the deposit %" PRIu64, c->balance,
                          deposit);
    c->balance -= deposit;
    ledger_channel *h = &txn_new(x, TAG_CHANNEL, hash)->v.h;
    memcpy(h->client, tx->sender, 32);
    memcpy(h->worker, worker, 32);
    h->deposit = deposit;
    h->dispute_blocks = blocks;
    h->status = LEDGER_CHAN_OPEN;
    h->opened_at = x->s->height;
    return 0;
}

static ledger_channel *channel_or_fail(txn *x, const uint8_t id[32], const char *what, char err[PLOW_ERR_LEN]) {
    ledger_channel *h = get_channel(x, id);
    if (!h) plow_error(err, "%s: no channel %s", what, hx(id).s);
    return h;
}

/* Closing: the rest of the deposit back to the client. */
static int settle(txn *x, ledger_channel *h, char err[PLOW_ERR_LEN]) {
    h->status = LEDGER_CHAN_CLOSED;
    return credit(get_account(x, h->client), h->deposit - h->redeemed, err);
}

int body_channel_redeem(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    uint64_t amount = tx->u.chan_redeem.amount;
    ledger_channel *h = channel_or_fail(x, tx->u.chan_redeem.channel, "channel_redeem", err);
    if (!h) return -1;
    if (!eq32(tx->sender, h->worker)) return plow_error(err, "channel_redeem: only the channel's worker redeems");
    if (h->status == LEDGER_CHAN_CLOSED) return plow_error(err, "channel_redeem: the channel is closed");
    if (h->status == LEDGER_CHAN_CLOSING && x->s->height > h->close_at)
        return plow_error(err, "channel_redeem: the dispute window ended at height %" PRIu64, h->close_at);
    if (!ledger_voucher_ok(h->client, x->s->g.chain_id, h->id, amount, tx->u.chan_redeem.sig))
        return plow_error(err, "channel_redeem: the voucher is not the client's signature of %" PRIu64, amount);
    if (amount > h->deposit)
        return plow_error(err, "channel_redeem: the voucher's %" PRIu64 " exceeds the deposit %" PRIu64, amount,
                          h->deposit);
    if (amount <= h->redeemed)
        return plow_error(err, "channel_redeem: %" PRIu64 " already redeemed; a voucher must be for more", h->redeemed);
    uint64_t pay = amount - h->redeemed;
    h->redeemed = amount;
    return credit(get_account(x, h->worker), pay, err);
}

int body_channel_close(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]) {
    (void)hash;
    ledger_channel *h = channel_or_fail(x, tx->u.chan_close.channel, "channel_close", err);
    if (!h) return -1;
    bool worker = eq32(tx->sender, h->worker), client = eq32(tx->sender, h->client);
    if (!worker && !client) return plow_error(err, "channel_close: only the channel's client or worker closes it");
    if (h->status == LEDGER_CHAN_CLOSED) return plow_error(err, "channel_close: the channel is closed");
    if (worker) return settle(x, h, err); /* the worker gives up what it did not redeem */
    if (h->status == LEDGER_CHAN_OPEN) {
        h->status = LEDGER_CHAN_CLOSING;
        h->close_at = sat_add(x->s->height, h->dispute_blocks);
        return 0;
    }
    if (x->s->height <= h->close_at)
        return plow_error(err, "channel_close: the worker may redeem until height %" PRIu64, h->close_at);
    return settle(x, h, err);
}
