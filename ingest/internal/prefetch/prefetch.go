// Package prefetch asks the CPU to bring a cache line into its caches ahead
// of a read. A load that misses every cache holds up the loads behind it
// once the CPU's window of instructions in flight is full; a prefetch does
// not wait for memory at all, so prefetching the lines a chunk of orders
// will read puts all their misses in flight at once. Go has no prefetch of
// its own outside the runtime, hence the one instruction in assembly
// (amd64; elsewhere Line does nothing).
package prefetch

// LineSize is the size of a cache line of the CPUs riskgate runs on (x86-64
// and arm64 alike): what one Line brings in.
const LineSize = 64
