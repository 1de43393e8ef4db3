package main

// The scale modes measure the local stack's join path as connections
// accumulate and churn, without relaying:
//
//   - waves (issue 18): -connections clients arrive in waves of -wave; each
//     wave first connects all its clients (connects/s), then joins them to
//     rooms of -room, the first member of each creating it (joins/s, enter
//     latency). Nobody leaves, so the table grows with every wave.
//   - churn (issue 17): -connections clients join rooms, then for -duration
//     rooms keep leaving (their clients close) and new rooms of new clients
//     take their places, so the number of live connections stays put while
//     the table sees every join and leave. Joins/s is reported per -window.
//
// Both report what the target of each issue compares (the last wave or
// window against the first), the machine's load with every number, and the
// server's memory per live connection.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/coder/websocket"

	"github.com/slsrtc/slsrtc/internal/localstack"
)

// scaleConfig is what a scale run was asked to do.
type scaleConfig struct {
	Mode            string        `json:"mode"`
	Connections     int           `json:"connections"`
	Wave            int           `json:"waveSize,omitempty"`
	RoomSize        int           `json:"roomSize"`
	Concurrency     int           `json:"concurrency"` // clients connecting or joining at once
	Duration        time.Duration `json:"-"`
	DurationSeconds float64       `json:"durationSeconds,omitempty"`
	Window          time.Duration `json:"-"`
	WindowSeconds   float64       `json:"windowSeconds,omitempty"`
	JoinTimeout     time.Duration `json:"-"`
	// Prefill items are put in the table before the run, the size of room
	// items, as a stack left running accumulates them (rooms outlive their
	// members by a day).
	Prefill int `json:"prefillItems,omitempty"`
}

// conditions is the state of the machine and the server at one moment.
type conditions struct {
	LoadAverage  float64 `json:"loadAverage"`        // the machine's 1-minute load average
	CPUPressure  float64 `json:"cpuPressurePercent"` // tasks waiting for a CPU, last 10 s
	ServerRSSMB  float64 `json:"serverRssMB"`
	TableItems   int64   `json:"tableItems"`             // -1: unknown
	ExpiredItems int64   `json:"expiredItems"`           // deleted by the TTL sweeps so far; -1: unknown
	HeapAfterGC  float64 `json:"heapAfterGcMB,omitzero"` // in-process runs: live Go heap (stack and clients)
}

// waveResult is one wave of the waves mode.
type waveResult struct {
	Wave        int `json:"wave"`
	Connections int `json:"connections"` // live and joined after the wave
	Lost        int `json:"lost"`        // connections of earlier waves the server closed meanwhile

	Connected         int     `json:"connected"`
	ConnectFailures   int     `json:"connectFailures"`
	ConnectSeconds    float64 `json:"connectSeconds"`
	ConnectsPerSecond float64 `json:"connectsPerSecond"`
	ConnectP99Ms      float64 `json:"connectP99Ms"`

	Joined             int     `json:"joined"`
	JoinFailures       int     `json:"joinFailures"`
	JoinSeconds        float64 `json:"joinSeconds"`
	JoinsPerSecond     float64 `json:"joinsPerSecond"`
	JoinP50Ms          float64 `json:"joinP50Ms"` // enterroom sent to room-members received
	JoinP99Ms          float64 `json:"joinP99Ms"`
	JoinMaxMs          float64 `json:"joinMaxMs"`
	CreateP99Ms        float64 `json:"createP99Ms"` // createroom sent to room-created received
	ServerCPUPerJoinMs float64 `json:"serverCpuPerJoinMs"`

	// Memory per live connection (RSS / connections), and what this wave's
	// connections added (RSS growth over the wave / its connections).
	RSSPerConnectionKB     float64 `json:"rssPerConnectionKB"`
	WaveRSSPerConnectionKB float64 `json:"waveRssPerConnectionKB"`

	Before conditions       `json:"before"`
	After  conditions       `json:"after"`
	Errors map[string]int64 `json:"errors"`
}

// churnWindow is one window of the churn mode.
type churnWindow struct {
	Window         int     `json:"window"`
	StartSeconds   float64 `json:"startSeconds"` // since the churn began
	Seconds        float64 `json:"seconds"`
	Joins          int     `json:"joins"`
	JoinFailures   int     `json:"joinFailures"`
	JoinsPerSecond float64 `json:"joinsPerSecond"`
	JoinP50Ms      float64 `json:"joinP50Ms"`
	JoinP99Ms      float64 `json:"joinP99Ms"`
	Leaves         int     `json:"leaves"`      // clients that closed
	Connections    int     `json:"connections"` // live at the end of the window
	ServerCPUMs    float64 `json:"serverCpuPerJoinMs"`
	conditions
	Errors map[string]int64 `json:"errors"`
}

// scaleSummary compares the last wave or window with the first: the target
// of both issues is a last within 20 % of the first, with no join failed.
type scaleSummary struct {
	FirstJoinsPerSecond float64 `json:"firstJoinsPerSecond"`
	LastJoinsPerSecond  float64 `json:"lastJoinsPerSecond"`
	LastOverFirst       float64 `json:"lastOverFirst"`
	Joins               int     `json:"joins"`
	JoinFailures        int     `json:"joinFailures"`
	ConnectFailures     int     `json:"connectFailures"`
	TargetMet           bool    `json:"targetMet"` // lastOverFirst ≥ 0.8 and no failure
}

// scaleReport is the JSON a scale run writes.
type scaleReport struct {
	Started      time.Time        `json:"started"`
	Seconds      float64          `json:"seconds"`
	Command      []string         `json:"command"`
	Machine      machine          `json:"machine"`
	Config       scaleConfig      `json:"config"`
	URL          string           `json:"url"`
	MemorySource string           `json:"memorySource"`
	Waves        []waveResult     `json:"waves,omitempty"`
	Windows      []churnWindow    `json:"windows,omitempty"`
	Summary      scaleSummary     `json:"summary"`
	Errors       map[string]int64 `json:"errors"`
}

func (s *scaleSummary) finish(first, last float64) {
	s.FirstJoinsPerSecond, s.LastJoinsPerSecond = first, last
	if first > 0 {
		s.LastOverFirst = ratio(last, first)
	}
	s.TargetMet = s.LastOverFirst >= 0.8 && s.JoinFailures == 0 && s.ConnectFailures == 0 && s.Joins > 0
}

// tableStats reads the stack's table: its item count and how many items TTL
// deleted.
type tableStats struct {
	client  *dynamodb.Client // nil: unknown
	name    string
	expired func() int64 // nil: unknown
}

func newTableClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("loadtest", "loadtest", ""),
	})
}

// prefill puts n items the size of a room item in the table, with a TTL a
// week away, keyed from the table's key schema.
func (t tableStats) prefill(ctx context.Context, n int) error {
	if t.client == nil {
		return errors.New("-prefill needs the stack's table (-dynamodb with -slsrtc)")
	}
	desc, err := t.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.name)})
	if err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	typeOf := map[string]ddbtypes.ScalarAttributeType{}
	for _, d := range desc.Table.AttributeDefinitions {
		typeOf[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	str := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	num := func(v int64) ddbtypes.AttributeValue {
		return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	expires := time.Now().Add(7 * 24 * time.Hour).Unix()
	for i := 0; i < n; i += 25 {
		var batch []ddbtypes.WriteRequest
		for j := i; j < min(i+25, n); j++ {
			id := fmt.Sprintf("prefill-%08d-0000-4000-8000-000000000000", j)
			item := map[string]ddbtypes.AttributeValue{
				"id": str(id), "capacity": num(4), "members": num(0), "createdAt": num(time.Now().UnixMilli()),
				"createdBy": str("prefill"), "expiresAt": num(expires),
			}
			for _, k := range desc.Table.KeySchema {
				name := aws.ToString(k.AttributeName)
				switch typeOf[name] {
				case ddbtypes.ScalarAttributeTypeN:
					item[name] = num(int64(j))
				case ddbtypes.ScalarAttributeTypeB:
					item[name] = &ddbtypes.AttributeValueMemberB{Value: []byte(id)}
				default:
					item[name] = str("prefill#" + id)
				}
			}
			batch = append(batch, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: item}})
		}
		out, err := t.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{t.name: batch}})
		if err != nil {
			return fmt.Errorf("prefill: %w", err)
		}
		if len(out.UnprocessedItems) > 0 {
			return errors.New("prefill: unprocessed items")
		}
	}
	return nil
}

func (t tableStats) items(ctx context.Context) int64 {
	if t.client == nil {
		return -1
	}
	out, err := t.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.name)})
	if err != nil || out.Table.ItemCount == nil {
		return -1
	}
	return *out.Table.ItemCount
}

// scaler runs a scale mode against one stack.
type scaler struct {
	d      *driver
	cfg    scaleConfig
	table  tableStats
	inProc bool
	stderr io.Writer
	quiet  bool
	// profile, if set, is where the waves mode writes a CPU profile of each
	// wave's joins (profile-wave1, ...), so that waves can be compared
	// (go tool pprof -diff_base).
	profile string
}

func (s *scaler) conditions(ctx context.Context) conditions {
	c := conditions{LoadAverage: loadAverage(), CPUPressure: cpuPressure(), TableItems: s.table.items(ctx), ExpiredItems: -1}
	if s.table.expired != nil {
		c.ExpiredItems = s.table.expired()
	}
	if rss, err := s.d.proc.rss(); err == nil {
		c.ServerRSSMB = float64(rss) / 1e6
	}
	if s.inProc {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		c.HeapAfterGC = float64(m.HeapAlloc) / 1e6
	}
	return c
}

// connect dials c and waits for its "connected" frame.
func (s *scaler) connect(ctx context.Context, c *client) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.JoinTimeout)
	defer cancel()
	if err := c.dial(ctx, s.d, s.d.url); err != nil {
		return err
	}
	f, err := c.expect(ctx, "connected")
	if err != nil {
		return err
	}
	c.id = f.Body
	return nil
}

// join makes c a member of g: the creator (first) creates the room, the
// others wait for it; then each enters. It returns the enter's latency (and
// the createroom's, for the creator).
func (s *scaler) join(ctx context.Context, c *client, g *group, creator bool) (enterMs, createMs float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.JoinTimeout)
	defer cancel()
	if creator {
		defer g.open("") // members must not wait for a room that will not come
		start := time.Now()
		if err := c.write(ctx, fmt.Appendf(nil, `{"action":"createroom","capacity":%d}`, s.cfg.RoomSize)); err != nil {
			return 0, 0, err
		}
		f, err := c.expect(ctx, "room-created")
		if err != nil {
			return 0, 0, err
		}
		createMs = msSince(start)
		g.open(f.Body)
	}
	select {
	case <-g.ready:
	case <-ctx.Done():
		return 0, createMs, fmt.Errorf("wait for the room: %w", ctx.Err())
	}
	if g.roomID == "" {
		return 0, createMs, errors.New("the room was not created")
	}
	start := time.Now()
	if err := c.write(ctx, []byte(`{"action":"enterroom","roomID":"`+g.roomID+`"}`)); err != nil {
		return 0, createMs, err
	}
	if _, err := c.expect(ctx, "room-members"); err != nil {
		return 0, createMs, err
	}
	enterMs = msSince(start)
	c.joined.Store(true)
	g.add(c.id)
	return enterMs, createMs, nil
}

// startProfile starts a CPU profile into path, if any, and returns the func
// that stops it.
func (s *scaler) startProfile(path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		s.d.errs.add("profile: " + shorten(err))
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		s.d.errs.add("profile: " + shorten(err))
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// each runs f(i) for i in [0, n) on s.cfg.Concurrency goroutines, in order
// of i, until ctx ends.
func (s *scaler) each(ctx context.Context, n int, f func(i int)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(s.cfg.Concurrency, n) {
		wg.Go(func() {
			for i := range jobs {
				f(i)
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

func (s *scaler) progress(format string, args ...any) {
	if !s.quiet {
		fmt.Fprintf(s.stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

// waves runs the waves mode.
func (s *scaler) waves(ctx context.Context, r *scaleReport) {
	var live []*client
	for w := 0; w*s.cfg.Wave < s.cfg.Connections && ctx.Err() == nil; w++ {
		n := min(s.cfg.Wave, s.cfg.Connections-w*s.cfg.Wave)
		n -= n % s.cfg.RoomSize
		if n == 0 {
			break
		}
		errsBefore := s.d.errs.snapshot()
		wr := waveResult{Wave: w + 1, Before: s.conditions(ctx)}
		s.progress("wave %d: connecting %d (live %d, load %.1f)", w+1, n, len(live), wr.Before.LoadAverage)

		// Connect the wave.
		clients := make([]*client, n)
		ok := make([]bool, n)
		var mu sync.Mutex
		var connectMs []float64
		start := time.Now()
		s.each(ctx, n, func(i int) {
			c := &client{}
			clients[i] = c
			t := time.Now()
			err := s.connect(ctx, c)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				wr.ConnectFailures++
				s.d.errs.add("connect: " + shorten(err))
				return
			}
			ok[i] = true
			connectMs = append(connectMs, msSince(t))
		})
		wr.ConnectSeconds = time.Since(start).Seconds()
		wr.Connected = len(connectMs)
		wr.ConnectsPerSecond = float64(wr.Connected) / wr.ConnectSeconds
		wr.ConnectP99Ms = percentile(connectMs, 99)

		// Join them, room by room: the creator of each room is the first of
		// its group in the order, so rooms are created as their members come.
		s.progress("wave %d: joining %d", w+1, wr.Connected)
		groups := make([]*group, n/s.cfg.RoomSize)
		for i := range groups {
			groups[i] = newGroup()
		}
		var joinMs, createMs []float64
		stopProfile := func() {}
		if s.profile != "" {
			stopProfile = s.startProfile(fmt.Sprintf("%s-wave%d", s.profile, w+1))
		}
		cpu0, _ := s.d.proc.cpu()
		start = time.Now()
		s.each(ctx, n, func(i int) {
			g := groups[i/s.cfg.RoomSize]
			creator := i%s.cfg.RoomSize == 0
			if !ok[i] {
				if creator {
					g.open("")
				}
				return
			}
			enter, create, err := s.join(ctx, clients[i], g, creator)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				wr.JoinFailures++
				s.d.errs.add("join: " + shorten(err))
				return
			}
			joinMs = append(joinMs, enter)
			if creator {
				createMs = append(createMs, create)
			}
			live = append(live, clients[i])
		})
		wr.JoinSeconds = time.Since(start).Seconds()
		cpu1, _ := s.d.proc.cpu()
		stopProfile()
		wr.Joined = len(joinMs)
		wr.JoinsPerSecond = float64(wr.Joined) / wr.JoinSeconds
		if wr.Joined > 0 {
			wr.JoinP50Ms, wr.JoinP99Ms, wr.JoinMaxMs = percentile(joinMs, 50), percentile(joinMs, 99), percentile(joinMs, 100)
			wr.ServerCPUPerJoinMs = float64((cpu1 - cpu0).Microseconds()) / 1000 / float64(wr.Joined)
		}
		wr.CreateP99Ms = percentile(createMs, 99)
		for i, c := range clients {
			if ok[i] && !c.joined.Load() {
				c.ws.CloseNow() // failed to join: not counted as live
			}
		}
		// A connection the server closed (API Gateway's idle timeout is 10
		// minutes; a slow enough run outlasts it) is not live.
		open := live[:0]
		for _, c := range live {
			if c.lost.Load() {
				wr.Lost++
				continue
			}
			open = append(open, c)
		}
		live = open
		s.d.mu.Lock()
		s.d.clients = live
		s.d.mu.Unlock()
		wr.Connections = len(live)
		wr.After = s.conditions(ctx)
		if wr.Connections > 0 {
			wr.RSSPerConnectionKB = wr.After.ServerRSSMB * 1000 / float64(wr.Connections)
		}
		if wr.Joined > 0 {
			wr.WaveRSSPerConnectionKB = (wr.After.ServerRSSMB - wr.Before.ServerRSSMB) * 1000 / float64(wr.Joined)
		}
		wr.Errors = diff(s.d.errs.snapshot(), errsBefore)
		r.Waves = append(r.Waves, wr)
		s.progress("wave %d: %d live, %.0f connects/s, %.0f joins/s, join p99 %.1f ms, %d failed, RSS %.0f MB, %d items",
			w+1, wr.Connections, wr.ConnectsPerSecond, wr.JoinsPerSecond, wr.JoinP99Ms, wr.JoinFailures+wr.ConnectFailures,
			wr.After.ServerRSSMB, wr.After.TableItems)
	}
	for _, w := range r.Waves {
		r.Summary.Joins += w.Joined
		r.Summary.JoinFailures += w.JoinFailures
		r.Summary.ConnectFailures += w.ConnectFailures
	}
	if n := len(r.Waves); n > 0 {
		r.Summary.finish(r.Waves[0].JoinsPerSecond, r.Waves[n-1].JoinsPerSecond)
	}
}

// churnRoom is a room of clients in the churn mode.
type churnRoom struct {
	g       *group
	clients []*client
}

// churnStats collects the joins and leaves of the current window.
type churnStats struct {
	mu       sync.Mutex
	joinMs   []float64
	failures int
	leaves   int
}

// churn runs the churn mode.
func (s *scaler) churn(ctx context.Context, r *scaleReport) {
	// Fill up, in one wave.
	s.progress("churn: joining %d connections", s.cfg.Connections)
	var mu sync.Mutex
	var rooms []*churnRoom
	fill := &churnStats{}
	s.each(ctx, s.cfg.Connections/s.cfg.RoomSize, func(int) {
		if rm := s.newRoom(ctx, fill); rm != nil {
			mu.Lock()
			rooms = append(rooms, rm)
			mu.Unlock()
		}
	})
	if fill.failures > 0 {
		r.Summary.JoinFailures += fill.failures
	}
	queue := make(chan *churnRoom, len(rooms)+s.cfg.Concurrency)
	for _, rm := range rooms {
		queue <- rm
	}
	var liveCount atomic.Int64
	liveCount.Store(int64(len(rooms) * s.cfg.RoomSize))
	s.progress("churn: %d live; churning for %s", liveCount.Load(), s.cfg.Duration)

	// Churn: each worker closes the oldest room and opens a new one.
	stats := &churnStats{}
	cctx, stop := context.WithTimeout(ctx, s.cfg.Duration)
	defer stop()
	var wg sync.WaitGroup
	workers := max(1, s.cfg.Concurrency/s.cfg.RoomSize)
	for range workers {
		wg.Go(func() {
			for cctx.Err() == nil {
				var old *churnRoom
				select {
				case old = <-queue:
				case <-cctx.Done():
					return
				}
				s.leave(old, stats)
				liveCount.Add(-int64(len(old.clients)))
				rm := s.newRoom(cctx, stats)
				if rm == nil {
					continue
				}
				liveCount.Add(int64(len(rm.clients)))
				queue <- rm
			}
		})
	}

	begin := time.Now()
	tick := time.NewTicker(s.cfg.Window)
	defer tick.Stop()
	windowStart := begin
	cpu0, _ := s.d.proc.cpu()
	errsBefore := s.d.errs.snapshot()
	for w := 1; ; w++ {
		done := false
		select {
		case <-tick.C:
		case <-cctx.Done():
			done = true
		}
		now := time.Now()
		stats.mu.Lock()
		joinMs, failures, leaves := stats.joinMs, stats.failures, stats.leaves
		stats.joinMs, stats.failures, stats.leaves = nil, 0, 0
		stats.mu.Unlock()
		cpu1, _ := s.d.proc.cpu()
		cw := churnWindow{
			Window: w, StartSeconds: windowStart.Sub(begin).Seconds(), Seconds: now.Sub(windowStart).Seconds(),
			Joins: len(joinMs), JoinFailures: failures, Leaves: leaves, Connections: int(liveCount.Load()),
		}
		cw.JoinsPerSecond = float64(cw.Joins) / cw.Seconds
		cw.JoinP50Ms, cw.JoinP99Ms = percentile(joinMs, 50), percentile(joinMs, 99)
		if cw.Joins > 0 {
			cw.ServerCPUMs = float64((cpu1 - cpu0).Microseconds()) / 1000 / float64(cw.Joins)
		}
		cw.conditions = s.conditions(ctx)
		errsNow := s.d.errs.snapshot()
		cw.Errors = diff(errsNow, errsBefore)
		errsBefore = errsNow
		// A last window much shorter than the others is noise: drop it
		// unless it is the only one.
		if !done || cw.Seconds >= s.cfg.Window.Seconds()/2 || len(r.Windows) == 0 {
			r.Windows = append(r.Windows, cw)
			s.progress("churn window %d: %.0f joins/s, p99 %.1f ms, %d failed, %d live, %d items, %d expired, RSS %.0f MB, load %.1f",
				w, cw.JoinsPerSecond, cw.JoinP99Ms, cw.JoinFailures, cw.Connections, cw.TableItems, cw.ExpiredItems, cw.ServerRSSMB, cw.LoadAverage)
		}
		if done {
			break
		}
		windowStart, cpu0 = time.Now(), cpu1
	}
	wg.Wait()

	// What is left is closed by finish.
	close(queue)
	var left []*client
	for rm := range queue {
		left = append(left, rm.clients...)
	}
	s.d.mu.Lock()
	s.d.clients = left
	s.d.mu.Unlock()

	for _, w := range r.Windows {
		r.Summary.Joins += w.Joins
		r.Summary.JoinFailures += w.JoinFailures
	}
	if n := len(r.Windows); n > 0 {
		r.Summary.finish(r.Windows[0].JoinsPerSecond, r.Windows[n-1].JoinsPerSecond)
	}
}

// newRoom connects cfg.RoomSize new clients and joins them to a new room,
// recording each enter in st; nil if any of it failed (what did connect is
// closed).
func (s *scaler) newRoom(ctx context.Context, st *churnStats) *churnRoom {
	rm := &churnRoom{g: newGroup(), clients: make([]*client, s.cfg.RoomSize)}
	errs := make([]error, s.cfg.RoomSize)
	enters := make([]float64, s.cfg.RoomSize)
	var wg sync.WaitGroup
	for i := range rm.clients {
		c := &client{}
		rm.clients[i] = c
		wg.Go(func() {
			if err := s.connect(ctx, c); err != nil {
				errs[i] = fmt.Errorf("connect: %w", err)
				if i == 0 {
					rm.g.open("")
				}
				return
			}
			enters[i], _, errs[i] = s.join(ctx, c, rm.g, i == 0)
		})
	}
	wg.Wait()
	failed := false
	st.mu.Lock()
	for i, err := range errs {
		if err != nil {
			failed = true
			if ctx.Err() == nil {
				st.failures++
				s.d.errs.add("join: " + shorten(err))
			}
			continue
		}
		st.joinMs = append(st.joinMs, enters[i])
	}
	st.mu.Unlock()
	if failed {
		s.leave(rm, nil)
		return nil
	}
	return rm
}

// leave closes every client of rm normally: the stack runs $disconnect for
// each, which leaves the room.
func (s *scaler) leave(rm *churnRoom, st *churnStats) {
	n := 0
	for _, c := range rm.clients {
		if c.ws == nil {
			continue
		}
		c.leaving.Store(true)
		if err := c.ws.Close(websocket.StatusNormalClosure, "churn"); err != nil {
			c.ws.CloseNow()
		}
		n++
	}
	if st != nil {
		st.mu.Lock()
		st.leaves += n
		st.mu.Unlock()
	}
}

// runScale runs a scale mode: against the stack at url (with its process
// and table), reporting to stdout and the JSON file.
func runScale(ctx context.Context, cfg scaleConfig, o options, url string, proc *process, tbl tableStats, stdout, stderr io.Writer) error {
	limit, err := raiseFileLimit(uint64(cfg.Connections + cfg.Concurrency + 256))
	if err != nil {
		return err
	}
	d := newDriver(slsrtc{roomSize: cfg.RoomSize}, url, config{RoomSize: cfg.RoomSize, JoinTimeout: cfg.JoinTimeout}, proc)
	d.start(ctx)
	s := &scaler{d: d, cfg: cfg, table: tbl, inProc: proc.self, stderr: stderr, quiet: o.quiet}
	if cfg.Mode == "waves" {
		s.profile = o.cpuProfile
	}
	r := &scaleReport{
		Started: time.Now().UTC(), Command: o.command, Config: cfg, URL: url, MemorySource: proc.describe(),
		Machine: machine{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(), FileLimit: limit, GOGC: os.Getenv("GOGC")},
	}
	if cfg.Prefill > 0 {
		s.progress("prefilling the table with %d items", cfg.Prefill)
		if err := tbl.prefill(ctx, cfg.Prefill); err != nil {
			return err
		}
	}
	switch cfg.Mode {
	case "waves":
		s.waves(ctx, r) // a profile per wave
	case "churn":
		// The profile starts after the prefill.
		stop := s.startProfile(o.cpuProfile)
		s.churn(ctx, r)
		stop()
	}
	if o.heapProfile != "" {
		// With every connection still open.
		if err := writeHeapProfile(o.heapProfile); err != nil {
			return err
		}
	}
	res := d.finish(nil)
	r.Errors = res.Errors
	r.Seconds = time.Since(r.Started).Seconds()
	printScale(stdout, r)
	if o.jsonOut != "" {
		if err := writeJSON(o.jsonOut, r); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("stopped early: %w", context.Cause(ctx))
	}
	return nil
}

// printScale writes a scale run's results as a table.
func printScale(w io.Writer, r *scaleReport) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	switch r.Config.Mode {
	case "waves":
		fmt.Fprintf(w, "\nwaves of %d into rooms of %d (%s)\n", r.Config.Wave, r.Config.RoomSize, r.URL)
		fmt.Fprintln(tw, "wave\tconns\tlost\tconnects/s\tconnect p99 ms\tjoins/s\tjoin p50 ms\tjoin p99 ms\tfailed\tcpu/join ms\tRSS MB\tKB/conn\tKB/conn (wave)\titems\tload\tcpu psi %\t")
		for _, x := range r.Waves {
			fmt.Fprintf(tw, "%d\t%d\t%d\t%.0f\t%.1f\t%.0f\t%.1f\t%.1f\t%d\t%.2f\t%.0f\t%.0f\t%.0f\t%d\t%.1f\t%.0f\t\n",
				x.Wave, x.Connections, x.Lost, x.ConnectsPerSecond, x.ConnectP99Ms, x.JoinsPerSecond, x.JoinP50Ms, x.JoinP99Ms,
				x.JoinFailures+x.ConnectFailures, x.ServerCPUPerJoinMs, x.After.ServerRSSMB, x.RSSPerConnectionKB,
				x.WaveRSSPerConnectionKB, x.After.TableItems, x.Before.LoadAverage, x.After.CPUPressure)
		}
	case "churn":
		fmt.Fprintf(w, "\nchurn of %d connections in rooms of %d for %s (%s)\n", r.Config.Connections, r.Config.RoomSize, r.Config.Duration, r.URL)
		fmt.Fprintln(tw, "window\tfrom s\tjoins/s\tjoin p50 ms\tjoin p99 ms\tfailed\tleaves\tconns\tcpu/join ms\tRSS MB\titems\tTTL deleted\tload\tcpu psi %\t")
		for _, x := range r.Windows {
			fmt.Fprintf(tw, "%d\t%.0f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%d\t%.2f\t%.0f\t%d\t%d\t%.1f\t%.0f\t\n",
				x.Window, x.StartSeconds, x.JoinsPerSecond, x.JoinP50Ms, x.JoinP99Ms, x.JoinFailures, x.Leaves, x.Connections,
				x.ServerCPUMs, x.ServerRSSMB, x.TableItems, x.ExpiredItems, x.LoadAverage, x.CPUPressure)
		}
	}
	tw.Flush()
	s := r.Summary
	fmt.Fprintf(w, "joins/s first %.1f, last %.1f: last/first %.2f; %d joins, %d join and %d connect failures; target (≥ 0.8, none failed) met: %v\n",
		s.FirstJoinsPerSecond, s.LastJoinsPerSecond, s.LastOverFirst, s.Joins, s.JoinFailures, s.ConnectFailures, s.TargetMet)
	for k, v := range r.Errors {
		fmt.Fprintf(w, "  error %q ×%d\n", k, v)
	}
}

func (c scaleConfig) check() string {
	switch {
	case c.RoomSize < 2:
		return "-room must be at least 2"
	case c.Connections < c.RoomSize:
		return "-connections must hold a room"
	case c.Mode == "waves" && c.Wave < c.RoomSize:
		return "-wave must hold a room"
	case c.Concurrency < 1:
		return "-dial-concurrency must be positive"
	case c.Mode == "churn" && (c.Duration <= 0 || c.Window <= 0):
		return "-duration and -window must be positive"
	case c.Prefill < 0:
		return "-prefill must not be negative"
	}
	return ""
}

// runScaleMode is run for the waves and churn modes: it starts the local
// stack in this process unless -slsrtc names one, then runs the mode.
func runScaleMode(args []string, cfg scaleConfig, o options, ddb, tableName string, timeout time.Duration, stdout, stderr io.Writer) int {
	if msg := cfg.check(); msg != "" {
		fmt.Fprintf(stderr, "loadtest: %s\n", msg)
		return 2
	}
	if o.slsURL != "" && o.slsPID == 0 {
		fmt.Fprintln(stderr, "loadtest: -slsrtc needs -slsrtc-pid, to measure the stack's memory")
		return 2
	}
	o.command = append([]string{"loadtest"}, args...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	err := func() error {
		url, proc, tbl := o.slsURL, &process{pid: o.slsPID}, tableStats{}
		if ddb != "" {
			tbl = tableStats{client: newTableClient(ddb), name: tableName}
		}
		if url == "" {
			stack, err := localstack.Start(ctx, o.stack())
			if err != nil {
				return fmt.Errorf("start the local stack: %w", err)
			}
			defer func() {
				sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				_ = stack.Shutdown(sctx)
			}()
			url, proc = stack.WebSocketURL, &process{pid: os.Getpid(), self: true}
			tbl = tableStats{client: stack.Clients.DynamoDB, name: stack.Table, expired: stack.ExpiredItems}
		}
		return runScale(ctx, cfg, o, url, proc, tbl, stdout, stderr)
	}()
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 1
	}
	return 0
}
