// Package domain holds riskgate's wire contracts: orders, scopes, kill states,
// commands, audit records and risk signals, with their JSON and validation.
// It imports nothing else of riskgate's; every other package imports it.
package domain
