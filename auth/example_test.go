package auth_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/slsrtc/slsrtc/auth"
)

func ExampleVerifier_Verify() {
	// The function's environment holds the Secrets Manager SecretString.
	secrets, err := auth.ParseSecrets(`{"current":"a-random-string-of-at-least-32-bytes","previous":"the-secret-being-rotated-out-of-use"}`)
	if err != nil {
		panic(err)
	}
	v, err := auth.NewVerifier("slsrtc", secrets...)
	if err != nil {
		panic(err)
	}
	issued := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	v.Now = func() time.Time { return issued.Add(10 * time.Minute) }

	// Whoever mints tokens signs with the current secret.
	token, err := auth.Mint(secrets[0], "slsrtc", auth.Grant{
		Subject: "user-42",
		Name:    "Alice",
		Rooms:   []string{"a118fd6a-2e9a-4cc1-bc01-ec0833251e78"},
	}, time.Hour, issued)
	if err != nil {
		panic(err)
	}

	// At $connect:
	g, err := v.Verify(token)
	if err != nil {
		panic(err)
	}
	fmt.Println("subject:", g.Subject, "expires:", g.ExpiresAt.UTC().Format(time.RFC3339))
	fmt.Println("may be called alice:", g.AllowsName("alice"), "bob:", g.AllowsName("bob"))
	fmt.Println("may enter a118fd6a-…:", g.AllowsRoom("a118fd6a-2e9a-4cc1-bc01-ec0833251e78"), "may create:", g.Create)

	// Two hours later the same token is refused; the log gets the reason,
	// never the token.
	v.Now = func() time.Time { return issued.Add(2 * time.Hour) }
	_, err = v.Verify(token)
	var r *auth.Refusal
	if errors.As(err, &r) {
		fmt.Printf("refused: code=%s err=%q\n", r.Code(), err)
	}
	// Output:
	// subject: user-42 expires: 2026-03-01T13:00:00Z
	// may be called alice: true bob: false
	// may enter a118fd6a-…: true may create: false
	// refused: code=expired err="token has expired: exp 2026-03-01T13:00:00Z"
}
