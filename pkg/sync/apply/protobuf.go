package apply

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/gitsync-io/gitsync/internal/cores"
)

// A LIST of many objects of a built-in type is asked for as protobuf where
// that loses nothing. The API server encodes 10,000 live objects as
// protobuf in about half the time it takes for JSON, into a third of the
// bytes, and decoding them into Go types, then into maps, costs gitsync two
// thirds of decoding the JSON: BenchmarkHugeSync's one change lists its
// 10,000 objects in 0.42 s instead of 0.48-0.70 (2026-12-07). A short
// list gains nothing worth its cost: the protobuf and conversion code a
// process pages in (3 MiB), and more garbage at once than a list decoded as
// it arrives.
//
// Protobuf drops what the client's Go types do not know. A server newer
// than the k8s.io/api gitsync is built with may serve fields those types
// lack, and a live value of such a field would vanish: a hand edit of it
// could then pass for no change. Such a server is listed in JSON.

// protobufFrom is how many objects of one type a LIST must be wanted for to
// come as protobuf.
const protobufFrom = 1000

const protobufAccept = runtime.ContentTypeProtobuf + ", " + runtime.ContentTypeJSON

// knowsEveryField reports whether gitsync's Go types hold every field the
// API server may serve for gvk: the type is built in (client-go's scheme
// has it and its list, items in field 2) and the server is no newer than
// the k8s.io/api gitsync was built with.
func (c *Cluster) knowsEveryField(gvk schema.GroupVersionKind) bool {
	if !scheme.Scheme.Recognizes(gvk) || !itemsAreField2(gvk.GroupVersion().WithKind(gvk.Kind+"List")) || !metadataIsField1(gvk) {
		return false
	}
	server, err := c.serverVersion()
	if err != nil {
		return false
	}
	return notNewer(server, typesRelease)
}

// typesRelease is the Kubernetes release of the k8s.io/api module gitsync
// is built with (v0.37.x is 1.37); TestTypesReleaseIsGoMods holds it to
// go.mod. The build's own record of its modules is no help: a test binary
// has none.
const typesRelease = "v1.37.0"

// notNewer reports whether the server's version ("v1.37.2") is of a minor
// release no newer than built ("v1.37.0"). Anything unreadable is newer.
func notNewer(server, built string) bool {
	s, err := version.ParseGeneric(server)
	if err != nil {
		return false
	}
	b, err := version.ParseGeneric(built)
	if err != nil {
		return false
	}
	return s.Major() == b.Major() && s.Minor() <= b.Minor()
}

// listProtobuf is listDecoded for a type knowsEveryField accepts: the list
// comes as protobuf, and its items are decoded one at a time on every core,
// into the type's Go struct, then into a map. If the server answers in JSON
// instead, that is decoded as listDecoded does.
func (a *Applier) listProtobuf(ctx context.Context, m *meta.RESTMapping, namespace, selector string, wanted nameSet) ([]unstructured.Unstructured, error) {
	var contentType string
	result := a.rest.Get().AbsPath(collectionPath(m, namespace)...).
		Param("labelSelector", selector).
		SetHeader("Accept", protobufAccept).
		Do(ctx).
		ContentType(&contentType)
	raw, err := result.Raw()
	if err != nil {
		return nil, result.Error() // decodes the server's Status
	}
	if !strings.HasPrefix(contentType, runtime.ContentTypeProtobuf) {
		return decodeJSONList(ctx, m, bytes.NewReader(raw), wanted)
	}
	raws, err := protobufItems(raw, m.GroupVersionKind.Kind+"List")
	if err != nil {
		return nil, fmt.Errorf("read the list: %w", err)
	}
	apiVersion, kind := m.GroupVersionKind.ToAPIVersionAndKind()
	items := make([]unstructured.Unstructured, len(raws))
	err = cores.Each(len(raws), func(i int) error {
		if wanted != nil {
			// An item's metadata says whether it is wanted, and whether it
			// is a version known up to date, before the rest is decoded.
			h, err := headOf(raws[i])
			if err != nil {
				return fmt.Errorf("decode an item of the list: %w", err)
			}
			v, ok := wanted[types.NamespacedName{Namespace: h.namespace, Name: h.name}]
			if !ok {
				return nil // left nil, and out of the result
			}
			if v != nil && string(v.UID) == h.uid && v.ResourceVersion == h.resourceVersion {
				placeholder(&items[i], apiVersion, kind, h.namespace, h.name, h.uid, h.resourceVersion)
				return nil
			}
		}
		o, err := scheme.Scheme.New(m.GroupVersionKind)
		if err != nil {
			return err
		}
		pb, ok := o.(interface{ Unmarshal([]byte) error })
		if !ok {
			return fmt.Errorf("%s has no protobuf decoding", m.GroupVersionKind)
		}
		if err := pb.Unmarshal(raws[i]); err != nil {
			return fmt.Errorf("decode an item of the list: %w", err)
		}
		obj, err := meta.Accessor(o)
		if err != nil {
			return err
		}
		fields := obj.GetManagedFields()
		for j := range fields {
			fields[j].FieldsV1 = nil // as trimManagedFields
		}
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return fmt.Errorf("decode an item of the list: %w", err)
		}
		items[i].Object = u
		items[i].SetAPIVersion(apiVersion) // items of a list leave them out
		items[i].SetKind(kind)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the list: %w", err)
	}
	return slices.DeleteFunc(items, func(u unstructured.Unstructured) bool { return u.Object == nil }), nil
}

// head is what the metadata of an encoded item says first: every type of
// k8s.io/api has its ObjectMeta in field 1 (itemsAreField2 checks a list's
// type, metadataIsField1 its items'), where name is field 1, namespace 3,
// uid 5 and resourceVersion 6 (TestObjectMetaFields holds them to the Go
// type's tags).
type head struct {
	metadata                              []byte
	name, namespace, uid, resourceVersion string
}

func headOf(item []byte) (head, error) {
	var h head
	err := eachField(item, func(num protowire.Number, value []byte) error {
		if num == 1 && h.metadata == nil {
			h.metadata = value
		}
		return nil
	})
	if err != nil {
		return h, err
	}
	err = eachField(h.metadata, func(num protowire.Number, value []byte) error {
		switch num {
		case 1:
			h.name = string(value)
		case 3:
			h.namespace = string(value)
		case 5:
			h.uid = string(value)
		case 6:
			h.resourceVersion = string(value)
		}
		return nil
	})
	return h, err
}

// protobufMagic starts every protobuf body of the API server.
var protobufMagic = []byte("k8s\x00")

// protobufItems returns the encoded items of a protobuf list of kind
// listKind, as parts of body: the body is the magic bytes, then a
// runtime.Unknown (fields: 1 typeMeta, whose 2 is the kind; 2 raw, the list;
// 3 contentEncoding), and the list's items are its field listItemsField.
func protobufItems(body []byte, listKind string) ([][]byte, error) {
	envelope, ok := bytes.CutPrefix(body, protobufMagic)
	if !ok {
		return nil, fmt.Errorf("not a protobuf body")
	}
	var kind, encoding string
	var list []byte
	err := eachField(envelope, func(num protowire.Number, value []byte) error {
		switch num {
		case 1:
			return eachField(value, func(num protowire.Number, value []byte) error {
				if num == 2 {
					kind = string(value)
				}
				return nil
			})
		case 2:
			list = value
		case 3:
			encoding = string(value)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if kind != listKind || encoding != "" {
		return nil, fmt.Errorf("got a %s (encoding %q), not a %s", kind, encoding, listKind)
	}
	var items [][]byte
	err = eachField(list, func(num protowire.Number, value []byte) error {
		if num == listItemsField {
			items = append(items, value)
		}
		return nil
	})
	return items, err
}

// eachField calls f with each length-delimited field of the protobuf
// message b, in order, and skips the others.
func eachField(b []byte, f func(num protowire.Number, value []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		value, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if err := f(num, value); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// listItemsField is the protobuf field of the items of every list type of
// k8s.io/api (`protobuf:"bytes,2,rep,name=items"`); itemsAreField2 checks a
// type's before its lists are read so.
const listItemsField = 2

// itemsAreField2 reports whether the Go list type of listGVK has its items in
// protobuf field listItemsField.
func itemsAreField2(listGVK schema.GroupVersionKind) bool {
	f, ok := goField(listGVK, "Items")
	return ok && strings.HasPrefix(f.Tag.Get("protobuf"), fmt.Sprintf("bytes,%d,rep,", listItemsField))
}

// metadataIsField1 reports whether the Go type of gvk has its ObjectMeta in
// protobuf field 1, as headOf reads it.
func metadataIsField1(gvk schema.GroupVersionKind) bool {
	f, ok := goField(gvk, "ObjectMeta")
	return ok && f.Type == reflect.TypeOf(metav1.ObjectMeta{}) && strings.HasPrefix(f.Tag.Get("protobuf"), "bytes,1,opt,")
}

// goField returns the field name of the Go type client-go's scheme has for
// gvk.
func goField(gvk schema.GroupVersionKind, name string) (reflect.StructField, bool) {
	o, err := scheme.Scheme.New(gvk)
	if err != nil {
		return reflect.StructField{}, false
	}
	t := reflect.TypeOf(o)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.FieldByName(name)
}
