package inventory

import (
	"bytes"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"sigs.k8s.io/cli-utils/pkg/object"
)

const (
	keyObjects = "inventory"
	keyStatus  = "status"

	// LabelInventory marks a sync's inventory ConfigMap with the sync's name.
	LabelInventory = "gitsync.io/inventory"
	labelManagedBy = "app.kubernetes.io/managed-by"
)

// Record is what the cluster remembers of one sync.
type Record struct {
	// Objects are the ids the sync applied and has not pruned.
	Objects object.ObjMetadataSet
	// Status is the sync's status document, opaque to this package.
	Status []byte

	// what was loaded, to skip writes that change nothing
	loaded          map[string]string
	resourceVersion string
}

// Store keeps one sync's Record in the ConfigMap gitsync-NAME of its namespace.
type Store struct {
	client          corev1client.ConfigMapsGetter
	namespace, name string
}

// NewStore returns the store of the sync called name, in namespace.
func NewStore(client corev1client.ConfigMapsGetter, namespace, name string) *Store {
	return &Store{client: client, namespace: namespace, name: name}
}

// ConfigMapName is the name of a sync's inventory ConfigMap.
func ConfigMapName(syncName string) string { return "gitsync-" + syncName }

func (s *Store) String() string { return "ConfigMap/" + s.namespace + "/" + ConfigMapName(s.name) }

// Load reads the record; a sync that never ran has an empty one.
func (s *Store) Load(ctx context.Context) (*Record, error) {
	cm, err := s.client.ConfigMaps(s.namespace).Get(ctx, ConfigMapName(s.name), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return &Record{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("%s: load inventory: %w", s, err)
	}
	ids, err := Decode([]byte(cm.Data[keyObjects]))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s, err)
	}
	return &Record{Objects: ids, Status: []byte(cm.Data[keyStatus]), loaded: cm.Data, resourceVersion: cm.ResourceVersion}, nil
}

// Save writes the record if it differs from what Load returned. It fails with
// a conflict if another writer changed the ConfigMap since.
func (s *Store) Save(ctx context.Context, r *Record) error {
	objs, err := Encode(r.Objects)
	if err != nil {
		return err
	}
	data := map[string]string{keyObjects: string(objs), keyStatus: string(r.Status)}
	if r.loaded != nil && bytes.Equal([]byte(r.loaded[keyObjects]), objs) && r.loaded[keyStatus] == string(r.Status) {
		return nil
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ConfigMapName(s.name),
			Namespace:       s.namespace,
			ResourceVersion: r.resourceVersion,
			Labels:          map[string]string{labelManagedBy: "gitsync", LabelInventory: s.name},
		},
		Data: data,
	}
	var saved *corev1.ConfigMap
	if r.resourceVersion == "" {
		saved, err = s.client.ConfigMaps(s.namespace).Create(ctx, cm, metav1.CreateOptions{FieldManager: "gitsync"})
	} else {
		saved, err = s.client.ConfigMaps(s.namespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: "gitsync"})
	}
	if err != nil {
		return fmt.Errorf("%s: save inventory: %w", s, err)
	}
	r.loaded, r.resourceVersion = saved.Data, saved.ResourceVersion
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
	for _, cm := range cms.Items {
		ids, err := Decode([]byte(cm.Data[keyObjects]))
		if err != nil {
			return nil, fmt.Errorf("ConfigMap/%s/%s: %w", cm.Namespace, cm.Name, err)
		}
		out[cm.Namespace+"/"+cm.Labels[LabelInventory]] = &Record{Objects: ids, Status: []byte(cm.Data[keyStatus])}
	}
	return out, nil
}
