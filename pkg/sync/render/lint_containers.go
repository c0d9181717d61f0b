package render

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// container is one container of a pod template, with the path of its entry in the object.
type container struct {
	name, field string
	init        bool
	spec        map[string]any
}

// containers returns the init containers and the containers of t, in that order.
func (t podTemplate) containers() []container {
	var out []container
	for _, list := range []string{"initContainers", "containers"} {
		items, _, _ := unstructured.NestedSlice(t.owner.Object, slices.Concat(t.at, []string{"spec", list})...)
		for i, item := range items {
			spec, ok := item.(map[string]any)
			if !ok {
				continue
			}
			name, _ := spec["name"].(string)
			out = append(out, container{name: name, field: fmt.Sprintf("%s[%d]", t.field(list), i), init: list == "initContainers", spec: spec})
		}
	}
	return out
}

func (c container) String() string {
	if c.init {
		return "init container " + c.name
	}
	return "container " + c.name
}

// lintContainers warns about the containers of t: images that are not pinned, no resource
// requests, and, for containers that run until stopped, no probe.
func lintContainers(t podTemplate) []Finding {
	var out []Finding
	for _, c := range t.containers() {
		warn := func(field, message, fix string) {
			out = append(out, Finding{Severity: SeverityWarning, Object: describe(t.owner), Field: c.field + "." + field, Message: message, Fix: fix})
		}
		if image, _ := c.spec["image"].(string); image != "" {
			if problem := unpinned(image); problem != "" {
				warn("image", fmt.Sprintf("%s: image %s %s, so each node runs whatever it pulls at the time", c, image, problem),
					fmt.Sprintf("pin a version tag or a digest: %s:<version> or %s@sha256:<digest>", repository(image), repository(image)))
			}
		}
		if !hasAny(c.spec, "resources", "requests") && !hasAny(c.spec, "resources", "limits") {
			warn("resources.requests", fmt.Sprintf("%s has no resource requests: the scheduler counts it as needing nothing, and it is evicted first", c),
				"set resources.requests.cpu and resources.requests.memory")
		}
		if t.longRunning && !c.init && !hasAny(c.spec, "readinessProbe") && !hasAny(c.spec, "livenessProbe") {
			warn("readinessProbe", fmt.Sprintf("%s has no readinessProbe or livenessProbe: it counts as ready as soon as it starts, and a hung process is never restarted", c),
				"add a readinessProbe (and a livenessProbe for hangs), such as an httpGet or tcpSocket on its port")
		}
	}
	return out
}

// unpinned says why an image reference does not name one image, or "" when it does: a digest
// pins it, a tag other than latest names a version.
func unpinned(image string) string {
	if strings.Contains(image, "@") {
		return ""
	}
	switch tag := tagOf(image); tag {
	case "":
		return "has no tag or digest"
	case "latest":
		return "uses the tag latest"
	}
	return ""
}

// tagOf is the tag of an image reference without a digest. The tag follows the last colon of
// the last path element: the colon of localhost:5000/nginx is a registry's port, not a tag.
func tagOf(image string) string {
	last := image[strings.LastIndex(image, "/")+1:]
	if i := strings.LastIndex(last, ":"); i >= 0 {
		return last[i+1:]
	}
	return ""
}

// repository is the image reference without its tag and digest.
func repository(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if tag := tagOf(image); tag != "" {
		return strings.TrimSuffix(image, ":"+tag)
	}
	return image
}

// hasAny reports whether the field at path of obj is set to something other than null or empty.
func hasAny(obj map[string]any, path ...string) bool {
	v, found, err := unstructured.NestedFieldNoCopy(obj, path...)
	if err != nil || !found || v == nil {
		return false
	}
	if m, ok := v.(map[string]any); ok {
		return len(m) > 0
	}
	return true
}
