package chart

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
)

// checkSchemas refuses a chart whose values schema, or an enabled
// subchart's, refers to a schema outside itself. Helm's validator would load
// it: a URL from wherever gitsync runs, past its mirrors and timeouts, and a
// relative or file: reference from gitsync's own disk (a schema's base is
// file:///values.schema.json), whose content the validator's messages then
// show in the sync's status. A chart is data from git: only references
// within the schema ("#…"), URNs (which Helm answers without loading
// anything) and the drafts' meta-schemas, built into the validator, pass.
func checkSchemas(c *chartv2.Chart, dir string) error {
	if len(c.Schema) > 0 {
		var doc any
		// A schema that does not parse is the validator's to report.
		if json.Unmarshal(c.Schema, &doc) == nil {
			if err := outsideReference(doc, ""); err != nil {
				return fmt.Errorf("%svalues.schema.json: %w", dir, err)
			}
		}
	}
	for _, sub := range c.Dependencies() {
		if err := checkSchemas(sub, dir+"charts/"+sub.Name()+"/"); err != nil {
			return err
		}
	}
	return nil
}

// outsideReference finds the first reference out of the schema v, at the
// JSON pointer ptr. It looks everywhere, data keywords such as enum
// included: a false alarm there is rarer than a way around the check.
func outsideReference(v any, ptr string) error {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range []string{"$ref", "$dynamicRef", "$recursiveRef", "$schema"} {
			s, ok := v[k].(string)
			if !ok || strings.HasPrefix(s, "#") || strings.HasPrefix(s, "urn:") || k == "$schema" && builtInDraft(s) {
				continue
			}
			at := "at " + ptr
			if ptr == "" {
				at = "at the top"
			}
			return fmt.Errorf(`%s %q %s: gitsync loads no schema from outside the chart (a URL, or a file on the machine it runs on); copy what it refers to under "$defs" in this file and refer to it as "#/$defs/…"`, k, s, at)
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if err := outsideReference(v[k], ptr+"/"+pointerEscaper.Replace(k)); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := outsideReference(e, ptr+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// builtInDraft tells whether url names a JSON Schema draft's meta-schema,
// which the validator has built in and never loads.
func builtInDraft(url string) bool {
	u := strings.TrimSuffix(url, "#")
	u, ok := strings.CutPrefix(u, "https://")
	if !ok {
		u = strings.TrimPrefix(u, "http://")
	}
	switch u {
	case "json-schema.org/schema", "json-schema.org/draft/2020-12/schema", "json-schema.org/draft/2019-09/schema",
		"json-schema.org/draft-07/schema", "json-schema.org/draft-06/schema", "json-schema.org/draft-04/schema":
		return true
	}
	return false
}
