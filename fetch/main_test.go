package fetch

import (
	"os"
	"testing"

	"github.com/torrentfs/torrentfs/internal/testnet"
)

// TestMain runs the tests, which start peers, in a network namespace of their own when
// run as root: see testnet.
func TestMain(m *testing.M) {
	testnet.Isolate()
	os.Exit(m.Run())
}
