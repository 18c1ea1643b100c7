// Package detector watches orders.v1 over sliding windows and tells each
// scope's KillSwitch workflow when the scope breaches a rule, and later when
// it is back to normal. It reports; the workflow decides.
//
// # Windows
//
// Every key (ACCOUNT:<id>, SYMBOL:<sym>, STRATEGY:<name>, GLOBAL) keeps a ring
// of 1-second buckets as long as the longest window its dimension's rules
// use, and running sums per window. An order is placed by its ts; the window
// W of a key whose newest second is S covers the seconds (S−W, S]. Every
// order is evaluated against every rule of its keys when it arrives, so a
// breach is seen on the order that crosses the line. Metrics are exact:
// notional is summed in fixed point (NotionalScale; a sum past the int64
// range saturates instead of wrapping, and is exact again once it fits),
// the top symbol is the most frequent one (a count-sorted array, O(log n)
// per update), and the z-score compares this minute's count with the key's
// per-minute counts of the last hour. The top symbol is kept for the windows that a
// top_symbol_share rule uses and for every account's shortest window (its
// risk signals name it); risk signals of other keys name it only where a
// rule keeps it.
//
// # Time
//
// Lateness is judged per orders.v1 partition: an order more than
// Rules.Lateness behind the newest order seen on its partition is counted
// (metric, and late_orders in its account's risk signals) and left out.
// A ts more than Rules.FutureSkew ahead of the clock is clamped to it and
// counted. Both decisions are made once, where the order enters, so every
// dimension counts the same orders.
//
// # Incidents
//
// A scope's first breach opens an incident and is signalled once (a
// THROTTLE incident may escalate once to KILL), whatever the scope's state:
// a scope still KILLED may have been reported normal since its kill, and
// its workflow would auto-unkill on that normal while the runaway goes on.
// Kills made by others (an operator's, or one from before a restart) are
// adopted as incidents, so they are reported normal too, and their first
// breach is signalled the same way. If, 10 s of event time after the
// signal, the scope is still in breach and the state topic shows nothing of
// it, or shows the workflow released the scope by itself, the same breach,
// with the same cmd_id, is sent again: a lost signal must not let a runaway
// go on. A breach Temporal has accepted is not lost (it is in the run's
// history), so while the state topic shows nothing of it the engine waits a
// minute before resending it, then doubling gaps of at most five minutes:
// resending every 10 s to a workflow that is only slow (a mass kill on a
// loaded server) gave it one more task per scope each time. A release by
// the workflow itself gets the breach again after 10 s, delivered or not.
// An operator's release is respected. The incident closes when the
// scope has stayed under every rule for Rules.NormalAfter; if the scope is
// then KILLED or THROTTLED the workflow is told it is normal.
//
// Signals are delivered off the evaluation path, which never waits on
// Temporal: each scope keeps only what it still has to say (its latest
// breach, and a normal after it), delivered in order and retried with
// jittered exponential backoff until delivered, for as long as the detector
// runs; a resend of the breach being delivered is not delivered twice.
//
// CANCELs open no exposure and are not counted; nor is a record keyed by
// other than its account_id (the router REJECTs it).
// riskgate_detector_records_ignored_total{reason} counts both.
//
// # Scale-out
//
// Instances share orders.v1 in a consumer group and count account keys
// where the order is consumed. Each live order is forwarded, keyed by
// SYMBOL:<sym>, STRATEGY:<name> and GLOBAL, to detector.repartition.v1,
// which the same group consumes, so each of those keys is counted by
// exactly one instance. Records forwarded twice after a rebalance are
// recognised by their source partition and offset and counted once.
//
// # Restart
//
// Every assigned partition is read from the offset of (now − longest window
// − lateness) by timestamp. Orders before the group's committed offset (and
// repartitioned records before the end of the partition at assignment) only
// rebuild the windows: nothing is signalled or forwarded for them, and an
// incident they reveal is adopted if the state topic shows it handled.
//
// # Memory per key
//
// A key's memory is bounded by its dimension's longest window W (at most
// 15 min) and by how many seconds of it had orders:
//
//   - a fixed part of about 0.9 KB (sums of up to six windows, top-symbol
//     and incident state, the id inline);
//   - 16 bytes per second with orders, at most W (900 buckets, 14.4 KB,
//     rounded up to a power of two: 16 KB);
//   - where a window tracks the top symbol: 12 bytes per (second, symbol)
//     with orders, plus 8 bytes per distinct symbol in the window, plus an
//     index (8-byte slots, an eighth to three quarters full) of those
//     symbols once there are more than 16, and, for keys with more than
//     eight symbols in one second, of the newest second's symbols. All of
//     it follows the symbols in the key's own windows and shrinks after a
//     burst; the engine's symbol table keeps only the symbols some key
//     holds (checked once a minute);
//   - with a zscore rule: 488 bytes of per-minute history.
//
// Measured with the default rules (`riskgate bench detector`: 10,000
// accounts, 500 symbols, 20 strategies): about 3 KB per key on average.
// A market maker quoting 50 orders a second over 200,000 symbols holds
// about 130 KB (BenchmarkManySymbols), however many symbols the engine met.
// Keys idle for Rules.IdleAfter are evicted, so memory follows the active
// keys, not every key ever seen.
package detector
