package manager

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoal-project/shoal/core/auth"
	"github.com/shoal-project/shoal/core/ca"
)

func TestMetricsOnlyForManagersAndAdmins(t *testing.T) {
	h := MetricsHandler(NewMetricsRegistry())
	tests := []struct {
		name string
		id   *auth.Identity
		want int
	}{
		{"anonymous", nil, http.StatusUnauthorized},
		{"worker", &auth.Identity{NodeID: "w", Role: ca.RoleWorker}, http.StatusForbidden},
		{"manager", &auth.Identity{NodeID: "m", Role: ca.RoleManager}, http.StatusOK},
		{"local admin", &auth.Identity{Role: ca.RoleAdmin, Local: true}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if tt.id != nil {
				r = r.WithContext(auth.WithIdentity(r.Context(), *tt.id))
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d", w.Code, tt.want)
			}
			if tt.want == http.StatusOK && !strings.Contains(w.Body.String(), "go_goroutines") {
				t.Fatal("no Go runtime metrics")
			}
		})
	}
}
