package emulator

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// rawClient is a WebSocket client that writes frames byte by byte, as no library
// lets a test choose frame sizes, and reads the server's frames the same way.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
	id   string
}

// rawFrame is one frame the server sent.
type rawFrame struct {
	fin     bool
	opcode  byte
	payload []byte
}

// rawDial opens a WebSocket to the stage by hand and learns its connection ID from
// the $connect the recorder saw.
func (s *stack) rawDial(t *testing.T) *rawClient {
	t.Helper()
	return s.rawDialWith(t, &net.Dialer{Timeout: wait})
}

// rawDialWith is rawDial with a dialer of the test's choice.
func (s *stack) rawDialWith(t *testing.T, d *net.Dialer) *rawClient {
	t.Helper()
	conn, err := d.Dial("tcp", s.host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	tag := "raw-" + strconv.FormatInt(clientSeq.Add(1), 10)
	fmt.Fprintf(conn, "GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Test-Client: %s\r\n\r\n", testStage, s.host, tag)
	c := &rawClient{conn: conn, r: bufio.NewReader(conn)}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s, want 101", resp.Status)
	}
	c.id = s.rec.waitFor(t, "$connect of "+tag, func(r recorded) bool {
		return r.ev.RequestContext.EventType == eventConnect && r.ev.Headers["X-Test-Client"] == tag
	}).ev.RequestContext.ConnectionID
	return c
}

// writeFrame writes one masked frame; errors are returned, not fatal, as the server
// may close while a test writes.
func (c *rawClient) writeFrame(fin bool, opcode byte, payload []byte) error {
	b0 := opcode
	if fin {
		b0 |= 0x80
	}
	header := []byte{b0, 0}
	switch n := len(payload); {
	case n < 126:
		header[1] = byte(n)
	case n <= 0xffff:
		header[1] = 126
		header = binary.BigEndian.AppendUint16(header, uint16(n))
	default:
		header[1] = 127
		header = binary.BigEndian.AppendUint64(header, uint64(n))
	}
	header[1] |= 0x80
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	masked := make([]byte, len(payload))
	for i, b := range payload {
		masked[i] = b ^ mask[i%4]
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(wait))
	_, err := c.conn.Write(append(append(header, mask[:]...), masked...))
	return err
}

// sendMessage writes data as one message of the given type in frames of the given
// sizes (which must add up to len(data)).
func (c *rawClient) sendMessage(opcode byte, data []byte, frames []int) error {
	for i, n := range frames {
		op := byte(opContinuation)
		if i == 0 {
			op = opcode
		}
		if err := c.writeFrame(i == len(frames)-1, op, data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// readFrame reads one frame from the server.
func (c *rawClient) readFrame() (rawFrame, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	var h [2]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return rawFrame{}, err
	}
	n := int64(h[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(c.r, ext[:]); err != nil {
			return rawFrame{}, err
		}
		n = int64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(c.r, ext[:]); err != nil {
			return rawFrame{}, err
		}
		n = int64(binary.BigEndian.Uint64(ext[:]))
	}
	if h[1]&0x80 != 0 {
		return rawFrame{}, errors.New("the server masked a frame")
	}
	f := rawFrame{fin: h[0]&0x80 != 0, opcode: h[0] & 0x0f, payload: make([]byte, n)}
	_, err := io.ReadFull(c.r, f.payload)
	return f, err
}

// readMessage reads the frames of the next data message, skipping control frames
// other than close, and returns the frames' payload sizes and the message.
func (c *rawClient) readMessage(t *testing.T) ([]int, string) {
	t.Helper()
	var sizes []int
	var msg []byte
	for {
		f, err := c.readFrame()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		switch f.opcode {
		case 0x8:
			t.Fatalf("close frame %v while reading a message", f.payload)
		case 0x9, 0xa:
			continue
		}
		sizes = append(sizes, len(f.payload))
		msg = append(msg, f.payload...)
		if f.fin {
			return sizes, string(msg)
		}
	}
}

// closed reads until the server's close frame, answers it as a client must, and
// returns its code and reason.
func (c *rawClient) closed(t *testing.T) (int, string) {
	t.Helper()
	for {
		f, err := c.readFrame()
		if err != nil {
			t.Fatalf("read before the close frame: %v", err)
		}
		if f.opcode != 0x8 {
			continue
		}
		_ = c.writeFrame(true, 0x8, f.payload)
		if len(f.payload) < 2 {
			return 1005, ""
		}
		return int(binary.BigEndian.Uint16(f.payload)), string(f.payload[2:])
	}
}
