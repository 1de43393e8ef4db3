// Package secretsource reads a secret the way the project's commands take
// one (cmd/token, cmd/vapid): from a file, or else from an environment
// variable, so that it never appears on a command line.
package secretsource

import (
	"fmt"
	"os"
)

// Read returns the content of file, or, when file is empty, the value of
// the environment variable env. Its errors never quote the content.
func Read(file, env string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("secret file: %w", err)
		}
		return string(b), nil
	}
	v, ok := os.LookupEnv(env)
	if !ok {
		return "", fmt.Errorf("secret: environment variable %s is not set", env)
	}
	return v, nil
}
