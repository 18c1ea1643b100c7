package detector

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The repartition topic's value is a compact binary form of an admitted
// order, with the orders.v1 partition and offset it came from (used to drop
// records forwarded twice after a rebalance):
//
//	version(1)=1 ts(8) notional(8) source_partition(4) source_offset(8)
//	then symbol, account, strategy, order_id, each length(1) + bytes.
const forwardVersion = 1

func encodeForward(ob *Observation, srcPart int32, srcOff int64) []byte {
	b := make([]byte, 0, 29+4+len(ob.Symbol)+len(ob.Account)+len(ob.Strategy)+len(ob.OrderID))
	b = append(b, forwardVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(ob.TS))
	b = binary.BigEndian.AppendUint64(b, uint64(ob.Notional))
	b = binary.BigEndian.AppendUint32(b, uint32(srcPart))
	b = binary.BigEndian.AppendUint64(b, uint64(srcOff))
	for _, s := range [...]string{ob.Symbol, ob.Account, ob.Strategy, ob.OrderID} {
		if len(s) > 255 {
			s = s[:255]
		}
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b
}

var errForward = errors.New("bad repartition record")

func decodeForward(b []byte) (ob Observation, srcPart int32, srcOff int64, err error) {
	if len(b) < 29 || b[0] != forwardVersion {
		return ob, 0, 0, fmt.Errorf("%w: %d bytes, version %v", errForward, len(b), b[:min(1, len(b))])
	}
	ob.TS = int64(binary.BigEndian.Uint64(b[1:]))
	ob.Notional = int64(binary.BigEndian.Uint64(b[9:]))
	srcPart = int32(binary.BigEndian.Uint32(b[17:]))
	srcOff = int64(binary.BigEndian.Uint64(b[21:]))
	rest := b[29:]
	var f [4]string
	for i := range f {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return ob, 0, 0, fmt.Errorf("%w: truncated at field %d", errForward, i)
		}
		f[i] = string(rest[1 : 1+int(rest[0])])
		rest = rest[1+int(rest[0]):]
	}
	ob.Symbol, ob.Account, ob.Strategy, ob.OrderID = f[0], f[1], f[2], f[3]
	return ob, srcPart, srcOff, nil
}
