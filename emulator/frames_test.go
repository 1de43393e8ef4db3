package emulator

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
	"testing/iotest"
)

// frame encodes one masked client frame.
func frame(fin bool, opcode byte, payloadLen int) []byte {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0, 0x80}
	switch {
	case payloadLen < 126:
		out[1] |= byte(payloadLen)
	case payloadLen <= 0xffff:
		out[1] |= 126
		out = binary.BigEndian.AppendUint16(out, uint16(payloadLen))
	default:
		out[1] |= 127
		out = binary.BigEndian.AppendUint64(out, uint64(payloadLen))
	}
	out = append(out, 1, 2, 3, 4) // masking key
	return append(out, bytes.Repeat([]byte{'p'}, payloadLen)...)
}

// The frame guard passes frames through byte for byte, however the stream is cut,
// until a data frame over the limit: that frame and every later data frame are
// dropped whole, control frames still pass, and onTooBig runs once.
func TestFrameGuard(t *testing.T) {
	const limit = maxFrameBytes
	small, edge := frame(true, opText, 10), frame(true, opText, limit)
	first, cont := frame(false, opText, 1000), frame(true, opContinuation, 2000)
	big, bigCont := frame(true, opText, limit+1), frame(true, opContinuation, limit+1)
	huge := frame(true, opBinary, 70000) // 64-bit length
	ping, closeFrame := frame(true, 0x9, 4), frame(true, 0x8, 2)
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	tests := []struct {
		name       string
		in, want   []byte
		wantTooBig bool
	}{
		{"small frames pass", cat(small, edge, first, cont, ping), cat(small, edge, first, cont, ping), false},
		{"over the limit", cat(small, big, small, ping, closeFrame), cat(small, ping, closeFrame), true},
		{"a continuation over the limit", cat(first, bigCont, cont, closeFrame), cat(first, closeFrame), true},
		{"a 64-bit length", cat(huge, ping), cat(ping), true},
		{"empty", nil, nil, false},
	}
	for _, tt := range tests {
		for _, cut := range []string{"whole", "one byte at a time", "half"} {
			t.Run(tt.name+"/"+cut, func(t *testing.T) {
				var src io.Reader = bytes.NewReader(tt.in)
				switch cut {
				case "one byte at a time":
					src = iotest.OneByteReader(src)
				case "half":
					src = iotest.HalfReader(src)
				}
				calls := 0
				g := &frameGuard{src: src, limit: limit, onTooBig: func() { calls++ }}
				got, err := io.ReadAll(g)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, tt.want) {
					t.Errorf("passed %d bytes, want %d", len(got), len(tt.want))
				}
				if wantCalls := map[bool]int{false: 0, true: 1}[tt.wantTooBig]; calls != wantCalls {
					t.Errorf("onTooBig called %d times, want %d", calls, wantCalls)
				}
			})
		}
	}
}
