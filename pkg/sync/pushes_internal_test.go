package sync

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNewRequestsAreThoseOfTheShardNotSeenBefore(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	pushes := func(requests ...pushRequest) *corev1.ConfigMap {
		data, err := json.Marshal(requests)
		if err != nil {
			t.Fatal(err)
		}
		return &corev1.ConfigMap{Data: map[string]string{pushesKey: string(data)}}
	}
	a0 := pushRequest{URL: "https://git.example/a.git", Ref: "main", Shard: 0, At: at}
	a1 := pushRequest{URL: "https://git.example/a.git", Ref: "main", Shard: 1, At: at}
	b0 := pushRequest{URL: "https://git.example/b.git", Shard: 0, At: at}
	later := a0
	later.At = at.Add(time.Second)
	for _, tc := range []struct {
		name          string
		before, after *corev1.ConfigMap
		shard         int
		want          []pushRequest
	}{
		{"the first requests", nil, pushes(a0, a1, b0), 0, []pushRequest{a0, b0}},
		{"of another shard", nil, pushes(a0, a1, b0), 1, []pushRequest{a1}},
		{"one seen before is not new", pushes(a0, b0), pushes(a0, b0), 0, nil},
		{"a newer push of the same source is", pushes(a0, b0), pushes(later, b0), 0, []pushRequest{later}},
		{"a request for another shard changes nothing here", pushes(a0), pushes(a0, a1), 0, nil},
		{"a ConfigMap that does not parse holds none", nil, &corev1.ConfigMap{Data: map[string]string{pushesKey: "{"}}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, newRequests(tc.before, tc.after, tc.shard)); diff != "" {
				t.Errorf("new requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequestPushes(t *testing.T) {
	f := newFixture(t)
	read := func() []pushRequest {
		cm, err := f.admin.CoreV1().ConfigMaps(f.home).Get(t.Context(), PushesConfigMap, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return pushRequests(cm)
	}
	t.Run("replicas writing at once lose none of their requests", func(t *testing.T) {
		var g errgroup.Group
		for i := range 5 {
			g.Go(func() error {
				return requestPushes(t.Context(), f.admin, f.home, []pushTarget{{fmt.Sprintf("https://git.example/%d.git", i), "main", 0}})
			})
		}
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := read(); len(got) != 5 {
			t.Errorf("requests %+v, want 5", got)
		}
	})
	t.Run("a request older than an hour is dropped at the next write", func(t *testing.T) {
		cm, err := f.admin.CoreV1().ConfigMaps(f.home).Get(t.Context(), PushesConfigMap, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		old := pushRequests(cm)
		for i := range old {
			old[i].At = old[i].At.Add(-2 * time.Hour)
		}
		data, _ := json.Marshal(old)
		cm.Data[pushesKey] = string(data)
		if _, err := f.admin.CoreV1().ConfigMaps(f.home).Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := requestPushes(t.Context(), f.admin, f.home, []pushTarget{{"https://git.example/new.git", "", 2}}); err != nil {
			t.Fatal(err)
		}
		got := read()
		if len(got) != 1 || got[0].URL != "https://git.example/new.git" || got[0].Shard != 2 || time.Since(got[0].At) > time.Minute {
			t.Errorf("requests %+v, want only the new one", got)
		}
	})
}
