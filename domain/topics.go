package domain

// Topic names (DESIGN §2).
const (
	TopicOrders      = "orders.v1"
	TopicRiskSignals = "risk_signals.v1"
	TopicCommands    = "killswitch.commands.v1"
	TopicState       = "killswitch.state.v1"
	TopicGated       = "orders.gated.v1"
	TopicAudit       = "audit.v1"
	TopicDLQ         = "orders.dlq.v1"
	// TopicDedup is the router's dedup-window changelog: partitioned like
	// orders.v1, written in the same transaction as the decisions.
	TopicDedup = "router.dedup.changelog.v1"
	// TopicDetectorRepartition re-keys orders by symbol, strategy and GLOBAL,
	// so each of those keys is counted by exactly one detector instance.
	TopicDetectorRepartition = "detector.repartition.v1"
)
