package ha

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvs-provider/terraform-provider-lvs/agent/vrrp"
	"github.com/lvs-provider/terraform-provider-lvs/internal/agentapi"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNotifyCommandNotLoggedAtInfo: a notify command line may carry credentials; a failing one
// is reported at warn level without it (the command shows at debug level only).
func TestNotifyCommandNotLoggedAtInfo(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	n := newNotifier(7, slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	defer n.close()
	n.set(&agentapi.Notify{Master: "curl -u admin:s3cr3t-token http://198.51.100.1/ >/dev/null 2>&1; exit 3"})
	n.transition(vrrp.Transition{To: vrrp.StateMaster}, false)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), "notify command failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no failure logged:\n%s", buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(buf.String(), "s3cr3t") {
		t.Fatalf("the notify command is in the info-level log:\n%s", buf.String())
	}
}
