package chaos

import "time"

// SetNow replaces the proxy's clock, for the idempotency window's test.
func (p *DynamoDBProxy) SetNow(now func() time.Time) { p.now = now }
