package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gitsync-io/gitsync/pkg/sync/inventory"
)

// Statuses reads the recorded status of the syncs in namespace ("" for all),
// or of the one called name, sorted by namespace and name.
func Statuses(ctx context.Context, cfg *rest.Config, namespace, name string) ([]Status, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	records, err := inventory.List(ctx, cs.CoreV1(), namespace)
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, key := range slices.Sorted(maps.Keys(records)) {
		var st Status
		if err := json.Unmarshal(records[key].Status, &st); err != nil {
			return nil, fmt.Errorf("status of sync %s: %w", key, err)
		}
		if name == "" || st.Name == name {
			st.Objects = len(records[key].Objects)
			out = append(out, st.withState())
		}
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("no sync named %q in namespace %q", name, namespace)
	}
	return out, nil
}
