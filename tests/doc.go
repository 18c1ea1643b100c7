// Package tests holds riskgate's end-to-end tests: each runs the real
// components against Kafka over TCP (kfake) and a real Temporal dev server.
package tests
