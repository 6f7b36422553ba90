/*
 * ledger_internal.h — what the files of the ledger's state machine share
 * (never included outside src/ledger): the record tables, the state
 * struct, the overlay a transaction runs against, and the helpers and rule
 * bodies one file defines and another calls.
 *
 * The state machine, one idea per file:
 *   state.c     lifecycle, blocks (ledger_apply_tx dispatches to the rule
 *               bodies through one table), the state root, lookups
 *   table.c     the sorted record tables and the OPEN-challenge index
 *   record.c    the records' canonical encodings, persistence
 *   overlay.c   a transaction's private copies; the money movements
 *   rules.c     the envelope; account and task-lifecycle rules
 *   challenge.c challenges and verdicts
 *   settle.c    finalize of training-like and round tasks
 *   labeling.c  LABEL tasks: assignment, commitments, aggregation, rules
 */
#ifndef PLOW_LEDGER_INTERNAL_H
#define PLOW_LEDGER_INTERNAL_H

#include "ledger.h"

#define STATE_ROOT_DOMAIN "plow/state/v1" /* hashed with its NUL */

enum { TAG_ACCOUNT = 'a', TAG_CHALLENGE = 'c', TAG_GOLD = 'g', TAG_CHANNEL = 'h', TAG_LABELS = 'l', TAG_META = 'm',
       TAG_TASK = 't' };

/* Value sizes (docs/ledger.md, "Records"). */
#define ACCOUNT_FIXED_LEN (6 * 8 + 1 + 1 + 2) /* without name and caps bytes */
#define ACCOUNT_MAX_LEN (ACCOUNT_FIXED_LEN + LEDGER_NAME_MAX + LEDGER_CAPS_MAX)
#define SLOT_LEN (1 + 32 + 8 + 8 + 4 * 32 + 8 + 4 + 32 + 8)
#define TASK_FIXED_LEN (32 + 32 + 3 + 4 * 8 + 3 * 4 + 1 + 3 * 8 + 4)
/* A LABEL task's extension after its slots: n_classes, redundancy,
 * gold_commit, min_gold_pct, gold_revealed, revealed, result, then u64 paid
 * per slot. */
#define LABEL_EXT_FIXED_LEN (4 + 4 + 32 + 4 + 1 + 1 + 32)
#define TASK_MAX_LEN (TASK_FIXED_LEN + LEDGER_MAX_REPLICAS * (SLOT_LEN + 8) + LABEL_EXT_FIXED_LEN)
#define CHALLENGE_LEN (4 * 32 + 1 + 4 * 8 + 4 * 32 + 1 + 32 + 8 + 1)
#define META_LEN (3 * 8)
#define CHANNEL_LEN (32 + 32 + 8 + 8 + 4 + 1 + 8 + 8)
#define LABELS_MAX_LEN (4 + LEDGER_LABELS_MAX)
#define GOLD_MAX_LEN (4 + 5 * LEDGER_GOLD_MAX)
#define VALUE_MAX_LEN LABELS_MAX_LEN
_Static_assert(LABELS_MAX_LEN >= TASK_MAX_LEN && LABELS_MAX_LEN >= ACCOUNT_MAX_LEN &&
                   LABELS_MAX_LEN >= CHALLENGE_LEN && LABELS_MAX_LEN >= GOLD_MAX_LEN,
               "largest value");
/* A labels record's id is its task id and slot byte, contiguous. */
_Static_assert(offsetof(ledger_labels, slot) == 32, "labels id layout");
#define ID_MAX_LEN 33

/* Limits on a task's block counts (claim, work, window). */
#define TASK_BLOCKS_MAX 1000000u

typedef struct srec {
    bool stale;        /* vhash must be recomputed */
    bool dirty;        /* changed since ledger_clear_dirty */
    uint8_t vhash[32]; /* SHA-256 of the encoded value */
    union {
        ledger_account a;
        ledger_task t;
        ledger_challenge c;
        ledger_gold g;
        ledger_labels l;
        ledger_channel h;
    } v;
} srec;

typedef struct table {
    uint8_t tag;
    size_t idlen; /* 32, or 33 for labels (task id + slot) */
    srec **r; /* sorted by id */
    size_t n, cap;
} table;

/* One record copied into a transaction's overlay. */
typedef struct pend {
    uint8_t tag;
    srec *orig; /* the state's record, NULL for a new one */
    srec val;
} pend;

struct ledger_state {
    ledger_genesis g; /* a deep copy */
    table accounts, challenges, tasks, gold, labels, channels;
    srec **open; /* OPEN challenges, sorted by id (a derived index, not state) */
    size_t n_open, cap_open;
    uint64_t height, time_ms, burned;
    bool in_block;
    bool meta_stale, meta_dirty;
    uint8_t meta_vhash[32];
    bool root_ok;
    uint8_t root[32];
    /* the overlay's storage, reused from transaction to transaction */
    pend **pool;
    size_t n_pool, cap_pool;
};

/* ---- small helpers -------------------------------------------------------------------- */

static inline bool is_zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
}

static inline bool eq32(const uint8_t *a, const uint8_t *b) { return memcmp(a, b, 32) == 0; }

/* The first 8 bytes of an id in hex: enough to tell ids apart in a message. */
typedef struct hexid {
    char s[17];
} hexid;
static inline hexid hx(const uint8_t *id) {
    hexid h;
    plow_hex(id, 8, h.s);
    return h;
}

/* a + b, or UINT64_MAX when that overflows: deadlines only (a deadline past
 * 2^64-1 never arrives, which is what the saturated value says). */
static inline uint64_t sat_add(uint64_t a, uint64_t b) {
    uint64_t r;
    return plow_add_u64(a, b, &r) ? r : UINT64_MAX;
}

/* floor(x * pct / 100) for pct <= 100, without overflow: x = 100q + r. */
static inline uint64_t pct_of(uint64_t x, uint32_t pct) {
    PLOW_ASSERT(pct <= 100);
    return (x / 100) * pct + (x % 100) * pct / 100;
}

/* ---- table.c ---------------------------------------------------------------------------- */

const uint8_t *rec_id(uint8_t tag, const srec *r);
size_t id_len(uint8_t tag);
size_t val_size(uint8_t tag);
void val_copy(uint8_t tag, srec *dst, const srec *src);
table *table_of(ledger_state *s, uint8_t tag);
srec *table_find(const table *t, const uint8_t *id, size_t *pos);
srec *table_add(table *t, const srec *val);
void table_free(table *t);
void open_index_update(ledger_state *s, srec *r);
void meta_changed(ledger_state *s);

/* ---- record.c --------------------------------------------------------------------------- */

size_t encode_value(uint8_t tag, const srec *r, uint8_t *out);
size_t encode_meta(const ledger_state *s, uint8_t *out);

/* ---- overlay.c -------------------------------------------------------------------------- */

typedef struct txn {
    ledger_state *s;
    uint64_t burned;
} txn;

void txn_begin(txn *x, ledger_state *s);
const srec *txn_peek(txn *x, uint8_t tag, const uint8_t *id);
srec *txn_get(txn *x, uint8_t tag, const uint8_t *id);
srec *txn_new(txn *x, uint8_t tag, const uint8_t *id);
const ledger_account *peek_account(txn *x, const uint8_t pk[32]);
ledger_account *get_account(txn *x, const uint8_t pk[32]);
ledger_task *get_task(txn *x, const uint8_t id[32]);
ledger_challenge *get_challenge(txn *x, const uint8_t id[32]);
void txn_commit(txn *x);
void txn_discard(txn *x);
int credit(ledger_account *a, uint64_t amount, char err[PLOW_ERR_LEN]);
int burn(txn *x, uint64_t amount, char err[PLOW_ERR_LEN]);
int unlock_stake(ledger_account *w, uint64_t amount, char err[PLOW_ERR_LEN]);
int slash(txn *x, const uint8_t worker[32], uint64_t amount, const uint8_t to[32], uint32_t pct,
          char err[PLOW_ERR_LEN]);
int burn_stake(txn *x, const uint8_t worker[32], uint64_t amount, char err[PLOW_ERR_LEN]);
int refund_escrow(txn *x, ledger_task *t, char err[PLOW_ERR_LEN]);
int mature(ledger_account *a, uint64_t height, char err[PLOW_ERR_LEN]);

/* ---- the rules (one body per transaction type) ------------------------------------------ */

typedef int (*body_fn)(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);

/* rules.c */
int envelope(txn *x, const ledger_tx *tx, bool sig_checked, char err[PLOW_ERR_LEN]);
ledger_task *task_or_fail(txn *x, const uint8_t id[32], const char *what, char err[PLOW_ERR_LEN]);
int slot_of(const ledger_task *t, const uint8_t worker[32]);
int body_transfer(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int body_stake(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int body_unstake(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int body_register(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int body_post_task(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int body_claim(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int body_commit(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int body_expire(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int body_reveal(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
/* A committed slot whose values can be used: revealed (sealed kinds) or committed (LABEL). */
bool slot_revealed(const ledger_task *t, const ledger_slot *sl);

/* channel.c */
int body_channel_open(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int body_channel_redeem(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int body_channel_close(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);

/* challenge.c: receipts served outside tasks (plow serve) */
int body_receipt_fraud(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);

/* challenge.c */
int body_challenge(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int body_verdict(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int slash_slot(txn *x, ledger_task *t, const uint8_t worker[32], const uint8_t challenger[32],
               char err[PLOW_ERR_LEN]);
int body_da_challenge(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int expire_challenges(txn *x, ledger_task *t, const char *what, char err[PLOW_ERR_LEN]);
uint64_t challenge_void_at(const ledger_state *s, const ledger_challenge *c);
int void_task(txn *x, ledger_task *t, const uint8_t ruled[32], char err[PLOW_ERR_LEN]);

/* settle.c */
int forfeit_slot(txn *x, ledger_task *t, ledger_slot *sl, char err[PLOW_ERR_LEN]);
int pay_slot(txn *x, ledger_task *t, ledger_slot *sl, uint64_t amount, char err[PLOW_ERR_LEN]);
int body_finalize(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);

/* labeling.c */
int check_label_params(const ledger_task_params *p, char err[PLOW_ERR_LEN]);
uint64_t label_commits_close(const ledger_task *t);
int finalize_label(txn *x, ledger_task *t, char err[PLOW_ERR_LEN]);
int body_label_reveal(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);
int body_gold_reveal(txn *x, const ledger_tx *tx, const uint8_t hash[32], char err[PLOW_ERR_LEN]);

#endif /* PLOW_LEDGER_INTERNAL_H */
