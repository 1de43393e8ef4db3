// Package cmdline parses the flags of the project's commands (cmd/local,
// cmd/token, cmd/vapid) the same way: -h prints the usage and the flags and
// exits 0; a bad flag or a stray argument says so, points to -h and exits 2.
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Parse parses args with fs (named after the command, its own output
// discarded), writing to stderr. done says that the command is to exit
// with code: after -h (usage, then the flags), or on an error.
func Parse(fs *flag.FlagSet, args []string, usage string, stderr io.Writer) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, usage)
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return 0, true
		}
		fmt.Fprintf(stderr, "%s: %v (see -h)\n", fs.Name(), err)
		return 2, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q (see -h)\n", fs.Name(), fs.Arg(0))
		return 2, true
	}
	return 0, false
}
