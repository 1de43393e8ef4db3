package emulator

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/slsrtc/slsrtc/internal/wsframe"
)

// maxFrameBytes is API Gateway's WebSocket frame size quota: 32 KB of payload. A
// client frame over it closes the connection with 1009; a message up to 128 KB
// must come in frames of at most this size, and a larger @connections post reaches
// the client in frames of at most this size.
const maxFrameBytes = wsframe.MaxBytes

// frameTooBigReason is the close reason of a frame over maxFrameBytes; AWS's wording
// is not documented.
const frameTooBigReason = "Frame too big (32 KB limit)"

// WebSocket opcodes (RFC 6455 section 5.2) the frame guard tells apart.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
)

// guardFrames wraps w so that the connection websocket.Accept hijacks from it reads
// the client's bytes through a frameGuard: coder/websocket offers a limit on messages
// only, not on frames. onTooBig runs once, on the first data frame over
// maxFrameBytes.
func guardFrames(w http.ResponseWriter, onTooBig func()) http.ResponseWriter {
	return &frameGuardWriter{ResponseWriter: w, onTooBig: onTooBig}
}

// frameGuardWriter is an http.ResponseWriter whose Hijack returns the connection
// behind a frameGuard.
type frameGuardWriter struct {
	http.ResponseWriter
	onTooBig func()
}

// Hijack hijacks the underlying connection and puts a frameGuard in front of its
// reads, starting with what the server had already buffered. Writes are untouched.
func (w *frameGuardWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
	g := &frameGuard{
		Conn:     conn,
		src:      io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), conn),
		limit:    maxFrameBytes,
		onTooBig: w.onTooBig,
	}
	return g, bufio.NewReadWriter(bufio.NewReader(g), brw.Writer), nil
}

// frameGuard passes a client's WebSocket byte stream through, parsing the frame
// headers as they go by. The first data frame (text, binary or continuation) whose
// payload exceeds limit is dropped whole, header and payload, so the WebSocket
// library never sees it and stays in step with the stream; so is every later data
// frame, while control frames (the client's close frame above all) still pass. The
// gateway, told by onTooBig, closes the connection with 1009 through the library,
// whose writes are serialised, so nothing is written beside a frame in progress.
//
// Only the library's reader calls Read, one call at a time.
type frameGuard struct {
	net.Conn
	src      io.Reader
	limit    int64
	onTooBig func()
	once     sync.Once

	buf      [4096]byte
	in       []byte // read from src, not processed yet
	out      []byte // processed, not handed to the reader yet
	err      error  // src's error, returned once in and out are drained
	header   [14]byte
	headerN  int   // bytes of the current frame header gathered so far
	payload  int64 // bytes of the current frame's payload still to come
	dropping bool  // the current frame is dropped
	tooBig   bool  // a frame over the limit was seen: data frames are dropped
}

// Read returns the next bytes of the stream without the dropped frames.
func (g *frameGuard) Read(p []byte) (int, error) {
	for {
		if len(g.out) > 0 {
			n := copy(p, g.out)
			g.out = g.out[n:]
			return n, nil
		}
		if len(g.in) == 0 {
			if g.err != nil {
				return 0, g.err
			}
			n, err := g.src.Read(g.buf[:])
			g.in, g.err = g.buf[:n], err
			continue
		}
		g.process()
	}
}

// process moves the bytes of g.in to g.out or drops them, gathering a frame header
// whole before deciding its frame's fate. It is called with g.out empty.
func (g *frameGuard) process() {
	if g.payload > 0 {
		n := int64(len(g.in))
		if n > g.payload {
			n = g.payload
		}
		if !g.dropping {
			g.out = g.in[:n]
		}
		g.in = g.in[n:]
		g.payload -= n
		return
	}
	need := 2
	if g.headerN >= 2 {
		need = headerSize(g.header[1])
	}
	n := copy(g.header[g.headerN:need], g.in)
	g.in = g.in[n:]
	g.headerN += n
	if g.headerN < need || need == 2 && headerSize(g.header[1]) > 2 {
		return // more header to come
	}
	header := g.header[:g.headerN]
	g.headerN = 0
	g.payload = payloadLength(header)
	opcode := header[0] & 0x0f
	data := opcode == opContinuation || opcode == opText || opcode == opBinary
	if data && (g.payload > g.limit || g.payload < 0) && !g.tooBig {
		g.tooBig = true
		g.once.Do(g.onTooBig)
	}
	g.dropping = data && g.tooBig
	if !g.dropping {
		g.out = header
	}
}

// headerSize returns the length of a frame header from its second byte: 2 bytes,
// plus 2 or 8 of extended payload length, plus 4 of masking key when masked.
func headerSize(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// payloadLength returns the payload length a complete frame header announces
// (negative for a 64-bit length with its top bit set, which RFC 6455 forbids).
func payloadLength(header []byte) int64 {
	switch n := header[1] & 0x7f; n {
	case 126:
		return int64(binary.BigEndian.Uint16(header[2:4]))
	case 127:
		return int64(binary.BigEndian.Uint64(header[2:10]))
	default:
		return int64(n)
	}
}
