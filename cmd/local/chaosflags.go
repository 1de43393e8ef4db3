package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"

	"github.com/slsrtc/slsrtc/emulator/chaos"
)

// chaosFlags are the flags of chaos mode. -chaos turns on chaos.Default and
// -chaos-profile a named profile (chaos.Profiles: worst, the same as -chaos,
// or aws, AWS's latencies without faults; -simulate-aws is -chaos-profile
// aws); each other flag sets one part of
// the profile, on top of the one chosen, of no chaos without one, and turns
// chaos mode on by itself.
type chaosFlags struct {
	fs      *flag.FlagSet
	on      *bool
	profile *string
	aws     *bool
	seed    *int64
	given   chaos.Profile // the values of the part flags
}

// chaosPartFlags are the flags that set one part of the profile.
var chaosPartFlags = []string{"disconnect-loss", "disconnect-delay", "connections-latency", "connections-429", "ddb-conflict", "ddb-throttle", "ddb-latency"}

func addChaosFlags(fs *flag.FlagSet) *chaosFlags {
	cf := &chaosFlags{fs: fs}
	def := chaos.Default(0)
	cf.on = fs.Bool("chaos", false, "chaos mode: the stack behaves like AWS at its worst (the default profile; the flags below change one part each)")
	cf.profile = fs.String("chaos-profile", "", "chaos mode with a named `profile`: worst (as -chaos) or aws (no faults; DynamoDB, @connections and invocations as slow as on AWS: docs/capacity.md)")
	cf.aws = fs.Bool("simulate-aws", false, "simulated AWS: every DynamoDB call, @connections call and invocation takes as long as on AWS, with no faults (the same as -chaos-profile aws)")
	cf.seed = fs.Int64("chaos-seed", 0, "seed of chaos mode's random choices, to repeat a run (default: a new one, printed in the banner)")
	fs.Float64Var(&cf.given.DisconnectLoss, "disconnect-loss", 0, fmt.Sprintf("chaos: `probability` that a $disconnect is never invoked (-chaos: %g)", def.DisconnectLoss))
	fs.Var((*rangeValue)(&cf.given.DisconnectDelay), "disconnect-delay", fmt.Sprintf("chaos: delay of each $disconnect, `MIN..MAX` or MAX (-chaos: %v)", def.DisconnectDelay))
	fs.Var((*rangeValue)(&cf.given.ConnectionsLatency), "connections-latency", fmt.Sprintf("chaos: latency of each @connections call, `MIN..MAX` (-chaos: %v)", def.ConnectionsLatency))
	fs.Float64Var(&cf.given.ConnectionsThrottle, "connections-429", 0, fmt.Sprintf("chaos: `probability` that an @connections call gets 429 LimitExceededException (-chaos: %g)", def.ConnectionsThrottle))
	fs.Float64Var(&cf.given.DynamoDBConflict, "ddb-conflict", 0, fmt.Sprintf("chaos: `probability` that a DynamoDB write meets a transaction conflict (-chaos: %g)", def.DynamoDBConflict))
	fs.Float64Var(&cf.given.DynamoDBThrottle, "ddb-throttle", 0, fmt.Sprintf("chaos: `probability` that a DynamoDB call is throttled (-chaos: %g)", def.DynamoDBThrottle))
	fs.Var((*rangeValue)(&cf.given.DynamoDBLatency), "ddb-latency", fmt.Sprintf("chaos: latency of each DynamoDB call, `MIN..MAX` (-chaos: %v)", def.DynamoDBLatency))
	return cf
}

// resolve returns the profile the flags ask for and whether chaos mode is on,
// once fs is parsed. Without -chaos-seed it draws a new seed.
func (cf *chaosFlags) resolve() (chaos.Profile, bool, error) {
	set := map[string]bool{}
	cf.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["simulate-aws"] && *cf.aws {
		if set["chaos-profile"] && *cf.profile != "aws" {
			return chaos.Profile{}, false, fmt.Errorf("-simulate-aws is -chaos-profile aws, not %q", *cf.profile)
		}
		*cf.profile, set["chaos-profile"] = "aws", true
	}
	on := *cf.on || set["chaos-profile"]
	for _, name := range chaosPartFlags {
		on = on || set[name]
	}
	if !on {
		if set["chaos-seed"] {
			return chaos.Profile{}, false, errors.New("-chaos-seed needs -chaos or another chaos flag")
		}
		return chaos.Profile{}, false, nil
	}
	var p chaos.Profile
	switch {
	case set["chaos-profile"]:
		named, err := chaos.Named(*cf.profile, 0)
		if err != nil {
			return chaos.Profile{}, false, fmt.Errorf("-chaos-profile: %w", err)
		}
		p = named
	case *cf.on:
		p = chaos.Default(0)
	}
	for name, apply := range map[string]func(){
		"disconnect-loss":     func() { p.DisconnectLoss = cf.given.DisconnectLoss },
		"disconnect-delay":    func() { p.DisconnectDelay = cf.given.DisconnectDelay },
		"connections-latency": func() { p.ConnectionsLatency = cf.given.ConnectionsLatency },
		"connections-429":     func() { p.ConnectionsThrottle = cf.given.ConnectionsThrottle },
		"ddb-conflict":        func() { p.DynamoDBConflict = cf.given.DynamoDBConflict },
		"ddb-throttle":        func() { p.DynamoDBThrottle = cf.given.DynamoDBThrottle },
		"ddb-latency":         func() { p.DynamoDBLatency = cf.given.DynamoDBLatency },
	} {
		if set[name] {
			apply()
		}
	}
	p.Seed = *cf.seed
	if !set["chaos-seed"] {
		p.Seed = int64(rand.Uint32()) // short enough to type back
	}
	if err := p.Validate(); err != nil {
		return chaos.Profile{}, false, fmt.Errorf("chaos: %w", err)
	}
	return p, true, nil
}

// rangeValue is a chaos.Range as a flag.Value.
type rangeValue chaos.Range

func (r *rangeValue) String() string {
	if r == nil {
		return ""
	}
	return chaos.Range(*r).String()
}

func (r *rangeValue) Set(s string) error {
	v, err := chaos.ParseRange(s)
	if err != nil {
		return err
	}
	*r = rangeValue(v)
	return nil
}
