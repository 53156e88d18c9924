package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/gaia-platform/iam/storage"
)

// Entry is an audit event as Export writes it: one JSON object per line,
// with these field names, which are a contract (empty strings are kept,
// so every line has every field but details).
type Entry struct {
	ID         string            `json:"id"`
	Time       time.Time         `json:"time"`
	ActorType  string            `json:"actor_type"`
	ActorID    string            `json:"actor_id"`
	ActorName  string            `json:"actor_name"`
	Action     string            `json:"action"`
	TargetType string            `json:"target_type"`
	TargetID   string            `json:"target_id"`
	Outcome    string            `json:"outcome"`
	ClientIP   string            `json:"client_ip"`
	ClientID   string            `json:"client_id"`
	Details    map[string]string `json:"details,omitempty"`
}

// Exporter reads the audit log in time order: the export half of
// storage.Audit.
type Exporter interface {
	ExportAudit(ctx context.Context, f storage.AuditFilter, fn func(*storage.AuditEvent) error) error
}

// Export writes the events of f's time range (Since inclusive, Until
// exclusive) to w as JSON lines, oldest first, as the store reads them: a
// page at a time, never the whole log in memory. It returns how many it
// wrote.
func Export(ctx context.Context, store Exporter, f storage.AuditFilter, w io.Writer) (int, error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	n := 0
	err := store.ExportAudit(ctx, f, func(e *storage.AuditEvent) error {
		n++
		return enc.Encode(Entry{
			ID: e.ID, Time: e.Time.UTC(), ActorType: e.ActorType, ActorID: e.ActorID, ActorName: e.ActorName,
			Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID, Outcome: e.Outcome,
			ClientIP: e.ClientIP, ClientID: e.ClientID, Details: e.Details,
		})
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return n, fmt.Errorf("export the audit log: %w", err)
	}
	return n, nil
}
