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
)
