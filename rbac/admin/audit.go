package admin

import (
	"net/http"
	"time"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/storage"
)

// AuditEvent is an audit log entry as the API shows it.
type AuditEvent struct {
	ID       string            `json:"id"`
	Time     time.Time         `json:"time"`
	Actor    Actor             `json:"actor"`
	Action   string            `json:"action"`
	Target   *Target           `json:"target,omitempty"`
	Outcome  string            `json:"outcome"`
	ClientIP string            `json:"client_ip,omitempty"`
	ClientID string            `json:"client_id,omitempty"`
	Details  map[string]string `json:"details,omitempty"`
}

// Actor is who acted: a user, a service, the operator's CLI, the server
// itself, or an anonymous caller (a failed login). ID and Name are "" when
// unknown.
type Actor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Target is what an action was done to, when it is known.
type Target struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

func auditEventOf(e *storage.AuditEvent) AuditEvent {
	out := AuditEvent{
		ID: e.ID, Time: e.Time, Action: e.Action, Outcome: e.Outcome,
		Actor:    Actor{Type: e.ActorType, ID: e.ActorID, Name: e.ActorName},
		ClientIP: e.ClientIP, ClientID: e.ClientID, Details: e.Details,
	}
	if e.TargetType != "" && e.TargetID != "" {
		out.Target = &Target{Type: e.TargetType, ID: e.TargetID}
	}
	return out
}

// listAudit lists audit events, newest first. Events of this server that
// are still queued (logins, refreshes) are written first, so the list is
// up to date here; other replicas' events appear as they write theirs.
func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r, "actor", "action", "target", "outcome", "since", "until", "limit", "cursor")
	if err != nil {
		return err
	}
	f := storage.AuditFilter{
		ActorID:  q.str("actor"),
		Action:   q.str("action"),
		TargetID: q.str("target"),
		Outcome:  q.str("outcome"),
		Since:    q.time("since"),
		Until:    q.time("until"),
		Before:   q.cursor(),
		Limit:    q.limit() + 1,
	}
	if _, ok := storage.CanonicalID(f.Before); f.Before != "" && !ok {
		q.bad("cursor", "not a cursor this API returned")
	}
	switch f.Outcome {
	case "", audit.Success, audit.Failure:
	default:
		q.bad("outcome", "must be success or failure")
	}
	if err := q.err(); err != nil {
		return err
	}
	if err := a.audit.Flush(r.Context()); err != nil {
		return err
	}
	events, err := a.store.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	page := Page[AuditEvent]{Items: make([]AuditEvent, 0, len(events))}
	if len(events) == f.Limit {
		events = events[:len(events)-1]
		page.NextCursor = encodeCursor(events[len(events)-1].ID)
	}
	for i := range events {
		page.Items = append(page.Items, auditEventOf(&events[i]))
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}
