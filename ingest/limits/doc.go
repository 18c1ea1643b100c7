// Package limits is the router's pre-trade limit check (DESIGN §9): given an
// order, the limits of its scopes and the reference prices, it decides
// whether the order would cross a limit (the router then BLOCKs it) and, once
// the router allows it, counts it in the usage of its scopes. It is pure:
// no Kafka, no clock of its own; the router feeds it risk.limits.v1,
// marketdata.ref.v1 and its orders, and carries its usage in the
// transactional changelog.
//
// # Limits
//
// Each scope (GLOBAL, ACCOUNT:<id>, SYMBOL:<sym>, STRATEGY:<name>) is held to
// its type's defaults (Config, deploy/limits.yaml) overridden field by field
// by its risk.limits.v1 record (ApplyLimits), each value clamped to the
// firm's ceiling for the type. Of an order's scopes the most restrictive
// decides: per order the smallest max_order_qty, max_order_notional and
// collar_pct; per window each scope's own max_orders and max_notional over
// its own usage; per trading day the account's credit_limit.
//
// # Usage
//
// A scope's usage is its allowed orders and notional in 1-second buckets
// over its window, and for an account the gross notional of the trading
// day. An order passes while every cap would still hold with it (greedy
// "allow while under the cap"); every order counts at the newest time seen
// (its ts, clamped), so no window, past or present, ever holds more than a
// cap. A scope keeps the buckets of its current window only: a window made
// longer by an override counts what was kept and fills from then on.
//
// Usage is kept per orders.v1 partition and summed per scope. The router
// writes what a transaction changed (AppendDirty) into that transaction,
// replays it on assignment or restart (Restore), forgets a partition that
// moved away (Revoke), and takes back an aborted transaction's commits
// (BeginTxn, RollbackTxn), so a crash never resets a budget and never
// counts an order twice. The caps of SYMBOL, STRATEGY and GLOBAL scopes are
// split among a group's routers by partition share (SetPartitionShare);
// ACCOUNT caps are exact.
//
// # Cost
//
// Check and Commit do not allocate once a scope's key exists (Commit
// allocates when it first sees a scope). A check reads, per scope, one slot
// of an index and the first cache line of the scope's key (a commit the
// second too, and the bucket it adds to); the limits themselves are shared
// by a scope type's defaults or by the overrides that set the same ones. A
// router checking chunks of orders hashes them as it decodes (Prepare, with
// the seeds the kill table shares, so an order's ids are hashed once),
// prefetches what the chunk's checks will read and then checks each, so
// that the cache misses of the chunk overlap: Touch and CheckPrepared, or
// Hold, CheckHeld, CommitHeld and Release, which keep the engine locked for
// the whole chunk instead of locking it per check and per commit. Amounts
// are integers of 1/10,000 of the currency unit with saturating sums.
package limits
