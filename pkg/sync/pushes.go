package sync

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
)

// PushesConfigMap is the ConfigMap, in the replicas' namespace, through which
// a replica passes on a webhook push for syncs it does not run (a standby,
// the holder of other shards, or the process of one static shard) to those
// that run them: one write per push, however many syncs it concerns. Every
// running Manager watches it.
const PushesConfigMap = "gitsync-pushes"

// pushesKey is the ConfigMap's data key holding the requests, as JSON.
const pushesKey = "requests"

// pushesKept is how long a request stays in the ConfigMap: long enough for
// every Manager to have seen it, short enough that sources removed from the
// config do not pile up.
const pushesKept = time.Hour

// pushesRetry spreads writers that meet on the ConfigMap: each round of
// conflicts lets one of them through.
var pushesRetry = wait.Backoff{Steps: 10, Duration: 10 * time.Millisecond, Factor: 2, Jitter: 0.5, Cap: time.Second}

// pushRequest asks the Manager of one shard to fetch one source now and sync
// what follows it. A newer request of the same source and shard replaces it.
type pushRequest struct {
	URL   string    `json:"url"`
	Ref   string    `json:"ref,omitempty"`
	Shard int       `json:"shard,omitempty"`
	At    time.Time `json:"at"`
}

type pushTarget struct {
	url, ref string
	shard    int
}

func (r pushRequest) target() pushTarget { return pushTarget{r.URL, r.Ref, r.Shard} }

// requestPushes records a request for each target in namespace, in one write;
// targets may repeat.
func requestPushes(ctx context.Context, client kubernetes.Interface, namespace string, targets []pushTarget) error {
	if len(targets) == 0 {
		return nil
	}
	if namespace == "" {
		return fmt.Errorf("ConfigMap %s: no namespace to pass the push on in", PushesConfigMap)
	}
	now := time.Now().UTC()
	cms := client.CoreV1().ConfigMaps(namespace)
	err := retry.RetryOnConflict(pushesRetry, func() error {
		cm, err := cms.Get(ctx, PushesConfigMap, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: PushesConfigMap, Namespace: namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "gitsync"}}}
		} else if err != nil {
			return err
		}
		requests := map[pushTarget]pushRequest{}
		for _, r := range pushRequests(cm) {
			if now.Sub(r.At) < pushesKept {
				requests[r.target()] = r
			}
		}
		for _, t := range targets {
			requests[t] = pushRequest{URL: t.url, Ref: t.ref, Shard: t.shard, At: now}
		}
		list := make([]pushRequest, 0, len(requests))
		for _, r := range requests {
			list = append(list, r)
		}
		slices.SortFunc(list, func(a, b pushRequest) int {
			return cmp.Or(cmp.Compare(a.URL, b.URL), cmp.Compare(a.Ref, b.Ref), cmp.Compare(a.Shard, b.Shard))
		})
		data, err := json.Marshal(list)
		if err != nil {
			return err
		}
		cm.Data = map[string]string{pushesKey: string(data)}
		if cm.ResourceVersion == "" {
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: "gitsync"})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(corev1.Resource("configmaps"), PushesConfigMap, err)
			}
			return err
		}
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "gitsync"})
		return err
	})
	if err != nil {
		return fmt.Errorf("ConfigMap %s/%s: %w", namespace, PushesConfigMap, err)
	}
	return nil
}

// pushRequests reads the requests of the ConfigMap; one it cannot read
// holds none.
func pushRequests(cm *corev1.ConfigMap) []pushRequest {
	var list []pushRequest
	if cm == nil || json.Unmarshal([]byte(cm.Data[pushesKey]), &list) != nil {
		return nil
	}
	return list
}

// newRequests returns the requests of after for shard that before did not
// hold.
func newRequests(before, after *corev1.ConfigMap, shard int) []pushRequest {
	seen := map[pushTarget]time.Time{}
	for _, r := range pushRequests(before) {
		seen[r.target()] = r.At
	}
	var out []pushRequest
	for _, r := range pushRequests(after) {
		if at, ok := seen[r.target()]; r.Shard == shard && (!ok || !at.Equal(r.At)) {
			out = append(out, r)
		}
	}
	return out
}

// watchPushes starts an informer of the pushes ConfigMap of namespace that
// calls trigger with each request for shard made after it started.
func watchPushes(ctx context.Context, client kubernetes.Interface, namespace string, shard int, trigger func([]pushRequest)) cache.InformerSynced {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", PushesConfigMap).String()
		}))
	informer := factory.Core().V1().ConfigMaps().Informer()
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if cm, ok := obj.(*corev1.ConfigMap); ok && !initial { // the first push ever
				trigger(newRequests(nil, cm, shard))
			}
		},
		UpdateFunc: func(before, after any) {
			b, ok1 := before.(*corev1.ConfigMap)
			a, ok2 := after.(*corev1.ConfigMap)
			if ok1 && ok2 {
				trigger(newRequests(b, a, shard))
			}
		},
	})
	factory.Start(ctx.Done())
	return informer.HasSynced
}
