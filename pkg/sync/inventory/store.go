package inventory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"sigs.k8s.io/cli-utils/pkg/object"
)

const (
	keyObjects = "inventory"
	// keyObjectsCompressed holds, in binaryData, the gzipped encoding of an
	// inventory larger than compressAbove, instead of keyObjects.
	keyObjectsCompressed = "inventory.gz"
	keyStatus            = "status"

	// LabelInventory marks a sync's inventory ConfigMap with the sync's name.
	LabelInventory = "gitsync.io/inventory"
	labelManagedBy = "app.kubernetes.io/managed-by"

	// AnnotationSuspend "true" on the inventory ConfigMap suspends the sync
	// (gitsync suspend / resume).
	AnnotationSuspend = "gitsync.io/suspend"
	// AnnotationRequestedAt, when it changes, asks the running instance to
	// sync now (gitsync sync --now, or kubectl annotate).
	AnnotationRequestedAt = "gitsync.io/requested-at"

	// fieldManager owns the data and labels; the annotations above belong to
	// the commands (or people) that set them, so saving never clears them.
	fieldManager = "gitsync"
)

// Record is what the cluster remembers of one sync.
type Record struct {
	// Objects are the ids the sync applied and has not pruned.
	Objects object.ObjMetadataSet
	// Status is the sync's status document, opaque to this package.
	Status []byte
	// Suspended and RequestedAt are read from the annotations.
	Suspended   bool
	RequestedAt string

	// what was loaded, to skip writes that change nothing
	loaded          map[string]string
	loadedGz        []byte
	resourceVersion string
	// found: the ConfigMap holds the list of objects (see Missing)
	found bool
}

// Missing reports whether the cluster holds no inventory for the sync: its
// ConfigMap does not exist, or holds no list of objects (gitsync suspend or
// sync --now made it, or a sync failed before it applied anything). Either
// the sync never ran, or its record was lost. Saving a missing record keeps
// it missing unless it was given objects or Recovered.
func (r *Record) Missing() bool { return !r.found }

// Recovered replaces the objects with ids found in the cluster: the record is
// no longer missing, even if ids is empty.
func (r *Record) Recovered(ids object.ObjMetadataSet) {
	r.Objects, r.found = ids, true
}

// Store keeps one sync's Record in the ConfigMap gitsync-NAME of its namespace.
// Its methods are safe to call from one goroutine at a time.
type Store struct {
	client          corev1client.ConfigMapsGetter
	namespace, name string
	cache           Cache
	seen            string // the resourceVersion this store last read or wrote
}

// Cache is a view of the inventory ConfigMaps kept by a watch, such as an
// informer's lister.
type Cache interface {
	Get(namespace, name string) (*corev1.ConfigMap, bool)
}

// ReadFrom makes Load read from c when c holds the version of the ConfigMap
// this store last read or wrote, which is the usual case for the one
// process that writes it: a sync whose record did not change then loads it
// without a request. Any other version, newer or not yet caught up, is read
// from the API server.
func (s *Store) ReadFrom(c Cache) { s.cache = c }

// NewStore returns the store of the sync called name, in namespace.
func NewStore(client corev1client.ConfigMapsGetter, namespace, name string) *Store {
	return &Store{client: client, namespace: namespace, name: name}
}

// ConfigMapName is the name of a sync's inventory ConfigMap.
func ConfigMapName(syncName string) string { return "gitsync-" + syncName }

func (s *Store) String() string { return "ConfigMap/" + s.namespace + "/" + ConfigMapName(s.name) }

// Ref is the object events about the sync are recorded on.
func (s *Store) Ref() *corev1.ObjectReference { return Ref(s.namespace, s.name) }

// Ref is the object events about the sync called name, whose inventory is in
// namespace, are recorded on: its inventory ConfigMap.
func Ref(namespace, name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: namespace, Name: ConfigMapName(name)}
}

// Load reads the record; a sync that never ran has an empty one.
func (s *Store) Load(ctx context.Context) (*Record, error) {
	if s.cache != nil && s.seen != "" {
		if cm, ok := s.cache.Get(s.namespace, ConfigMapName(s.name)); ok && cm.ResourceVersion == s.seen {
			return decodeRecord(cm)
		}
	}
	cm, err := s.client.ConfigMaps(s.namespace).Get(ctx, ConfigMapName(s.name), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		s.seen = ""
		return &Record{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("%s: load inventory: %w", s, err)
	}
	s.seen = cm.ResourceVersion
	return decodeRecord(cm)
}

// StatusOf returns the status document an inventory ConfigMap holds (see
// Record.Status), without decoding its list of objects.
func StatusOf(cm *corev1.ConfigMap) []byte { return []byte(cm.Data[keyStatus]) }

// ObjectsOf returns the ids an inventory ConfigMap lists.
func ObjectsOf(cm *corev1.ConfigMap) (object.ObjMetadataSet, error) {
	ids, _, err := decodeObjects(cm)
	if err != nil {
		return nil, fmt.Errorf("ConfigMap/%s/%s: %w", cm.Namespace, cm.Name, err)
	}
	return ids, nil
}

func decodeRecord(cm *corev1.ConfigMap) (*Record, error) {
	ids, found, err := decodeObjects(cm)
	if err != nil {
		return nil, fmt.Errorf("ConfigMap/%s/%s: %w", cm.Namespace, cm.Name, err)
	}
	return &Record{
		found:           found,
		Objects:         ids,
		Status:          []byte(cm.Data[keyStatus]),
		Suspended:       cm.Annotations[AnnotationSuspend] == "true",
		RequestedAt:     cm.Annotations[AnnotationRequestedAt],
		loaded:          cm.Data,
		loadedGz:        cm.BinaryData[keyObjectsCompressed],
		resourceVersion: cm.ResourceVersion,
	}, nil
}

// Save writes the record if it differs from what Load returned, with
// server-side apply so that annotations set by others stay. It fails with a
// conflict if another writer changed the ConfigMap since the Load.
func (s *Store) Save(ctx context.Context, r *Record) error {
	text, gz, err := encodeObjects(r.Objects)
	if err != nil {
		return err
	}
	data := map[string]string{keyStatus: string(r.Status)}
	var binary map[string][]byte
	if r.found || len(r.Objects) > 0 {
		if gz != nil {
			binary = map[string][]byte{keyObjectsCompressed: gz}
		} else {
			data[keyObjects] = text
		}
	}
	if r.loaded != nil && r.loaded[keyObjects] == data[keyObjects] && r.loaded[keyStatus] == data[keyStatus] &&
		bytes.Equal(r.loadedGz, binary[keyObjectsCompressed]) {
		return nil
	}
	var saved *corev1.ConfigMap
	switch {
	case r.resourceVersion == "":
		// It did not exist at Load: create it, failing if someone else did.
		saved, err = s.client.ConfigMaps(s.namespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: ConfigMapName(s.name), Namespace: s.namespace, Labels: s.labels()},
			Data:       data,
			BinaryData: binary,
		}, metav1.CreateOptions{FieldManager: fieldManager})
	case r.movesObjects(data, binary):
		saved, err = s.replaceObjects(ctx, r, data, binary)
	default:
		cm := corev1apply.ConfigMap(ConfigMapName(s.name), s.namespace).
			WithLabels(s.labels()).
			WithData(data).
			WithResourceVersion(r.resourceVersion) // fails if changed since the Load
		if binary != nil {
			cm.WithBinaryData(binary)
		}
		saved, err = s.client.ConfigMaps(s.namespace).Apply(ctx, cm, metav1.ApplyOptions{FieldManager: fieldManager, Force: true})
	}
	if err != nil {
		return fmt.Errorf("%s: save inventory: %w", s, err)
	}
	r.loaded, r.loadedGz, r.resourceVersion = saved.Data, saved.BinaryData[keyObjectsCompressed], saved.ResourceVersion
	_, inText := saved.Data[keyObjects]
	_, inBinary := saved.BinaryData[keyObjectsCompressed]
	r.found = inText || inBinary
	s.seen = saved.ResourceVersion
	return nil
}

// movesObjects reports whether saving data and binary moves the list of
// objects between text and gzip: the key it leaves must be removed, which
// an apply does not do for a key the ConfigMap's creation set.
func (r *Record) movesObjects(data map[string]string, binary map[string][]byte) bool {
	_, wasText := r.loaded[keyObjects]
	_, isText := data[keyObjects]
	return (wasText && !isText) || (r.loadedGz != nil && binary == nil)
}

// replaceObjects saves data and binary with one merge patch that also
// removes the keys of the list's previous form, failing if the ConfigMap
// changed since the Load.
func (s *Store) replaceObjects(ctx context.Context, r *Record, data map[string]string, binary map[string][]byte) (*corev1.ConfigMap, error) {
	d := map[string]any{keyObjects: nil}
	for k, v := range data {
		d[k] = v
	}
	b := map[string]any{keyObjectsCompressed: nil}
	for k, v := range binary {
		b[k] = v // base64, as JSON encodes []byte
	}
	patch, err := json.Marshal(map[string]any{
		"metadata":   map[string]any{"resourceVersion": r.resourceVersion, "labels": s.labels()},
		"data":       d,
		"binaryData": b,
	})
	if err != nil {
		return nil, err
	}
	return s.client.ConfigMaps(s.namespace).Patch(ctx, ConfigMapName(s.name), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
}

// Suspend sets or clears the suspend annotation, creating the ConfigMap if
// the sync never ran, so a running instance stops or resumes syncing.
func (s *Store) Suspend(ctx context.Context, suspend bool) error {
	value := "false"
	if suspend {
		value = "true"
	}
	return s.annotate(ctx, AnnotationSuspend, value)
}

// RequestSync asks the running instance to sync now.
func (s *Store) RequestSync(ctx context.Context, now time.Time) error {
	return s.annotate(ctx, AnnotationRequestedAt, now.UTC().Format(time.RFC3339Nano))
}

func (s *Store) labels() map[string]string {
	return map[string]string{labelManagedBy: "gitsync", LabelInventory: s.name}
}

func (s *Store) annotate(ctx context.Context, key, value string) error {
	cm := corev1apply.ConfigMap(ConfigMapName(s.name), s.namespace).
		WithLabels(s.labels()).
		WithAnnotations(map[string]string{key: value})
	_, err := s.client.ConfigMaps(s.namespace).Apply(ctx, cm, metav1.ApplyOptions{FieldManager: "gitsync-cli-" + key[len("gitsync.io/"):], Force: true})
	if err != nil {
		return fmt.Errorf("%s: set %s: %w", s, key, err)
	}
	return nil
}

// List returns the records of every sync in namespace ("" for all
// namespaces), by namespace/name.
func List(ctx context.Context, client corev1client.ConfigMapsGetter, namespace string) (map[string]*Record, error) {
	cms, err := client.ConfigMaps(namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelInventory})
	if err != nil {
		return nil, fmt.Errorf("list inventories: %w", err)
	}
	out := make(map[string]*Record, len(cms.Items))
	for i := range cms.Items {
		r, err := decodeRecord(&cms.Items[i])
		if err != nil {
			return nil, err
		}
		out[cms.Items[i].Namespace+"/"+cms.Items[i].Labels[LabelInventory]] = r
	}
	return out, nil
}
