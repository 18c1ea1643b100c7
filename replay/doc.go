// Package replay answers "what would these rules have done?" before they
// go live: it runs recorded order flow, from a file or from orders.v1 over
// a time range, through the detector's engine with candidate rules, a
// model of each scope's KillSwitch workflow, and the router's decision
// table, with no Kafka transaction and no Temporal, and reports per scope
// the first breach (rule, order, time, value and threshold), the kills and
// the orders that would have been dropped, beside what actually happened
// (killswitch.commands.v1, killswitch.state.v1, audit.v1).
//
// It sits above ingest: it composes the detector's engine
// (ingest/detector, through its exported API only), the router's table and
// allocation-free decoder (ingest/router, none of its Kafka parts) and
// the workflow's settings (workflows), and renders a report as the daily
// report does; nothing on the order path depends on it.
//
// # What is modelled
//
//   - Order of events: a file is read in line order, as the detector reads
//     one partition; orders.v1 is read partition by partition in offset
//     order and merged by ts. Lateness is judged per partition, as the
//     detector judges it: an order more than the rules' lateness behind its
//     partition's newest order is counted late and left out of the windows
//     (the router still decides it). Future skew is not applied: the
//     recording's wall clock is not known.
//   - The detector: every NEW order counts for its account, symbol,
//     strategy and GLOBAL; CANCELs are not counted. A breach is seen on the
//     order that crosses the line. Every second of event time the engine
//     re-evaluates open incidents (so a scope whose orders stopped is found
//     normal, as the detector's tick finds it) and evicts idle keys, so
//     memory follows the keys live in the windows, not the input's length.
//   - The kill: a breach is handed at once to the scope's modelled
//     KillSwitch, whose new state the router's table takes from the next
//     order on (the live path takes tens of milliseconds more: orders in
//     that gap are dropped here and allowed in fact). The model follows the
//     workflow's detector paths (workflows/signals.go, transitions.go):
//     KILL or THROTTLE per the rule's action; cooldown (Settings.Cooldown),
//     then, once the detector reported the scope normal since its last
//     breach, probation (THROTTLED at ProbationRate for Probation) and
//     ACTIVE; a breach during probation kills again with double the
//     cooldown, capped at MaxCooldown; the OffencesToPin-th kill within
//     OffenceWindow pins the scope (no auto-unkill); a breach after a normal
//     makes it forget the normal; a breach repeated under its cmd_id is
//     applied once per run. Operator actions, four-eyes approvals and
//     Temporal's own delays are not modelled.
//   - The router: the most general KILLED scope DROPs an order; a
//     THROTTLED scope's token bucket, at the order's event time, THROTTLEs
//     it (one router: the full rate). Duplicates are not modelled (every
//     order is decided as the first of its id), and every CANCEL is taken
//     as one of an order the router allowed, so it passes.
//   - Pre-trade limits plug in as a PreTrade evaluator, checked after the
//     kills and before the throttles, as the router orders its checks.
//
// # What happened
//
// From the topics, a scope's kills are the KILL, THROTTLE and UNKILL
// commands of the range and the states of the compacted state topic; its
// first breach is the first KILL or THROTTLE command, whose corr_id names
// the order the detector fired on (det:<scope>:<order_id>), and whose time
// is that order's ts when the order is in the range; its drops, throttles
// and blocks are the audit records of the range's orders, counted for the
// scope their reason names. The difference per scope: the same order, an
// earlier or a later one, a new kill, or one that would not happen.
package replay
