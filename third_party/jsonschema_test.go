package thirdparty

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestJSONSchemaChecksSchemasAgainstTheirDraft: jsonschema.patch compiles
// the drafts' meta-schemas when a schema is first added or compiled instead
// of at init. Every draft must still refuse a schema its meta-schema does
// not allow and apply a valid one, also when the first uses are concurrent.
func TestJSONSchemaChecksSchemasAgainstTheirDraft(t *testing.T) {
	drafts := []string{
		"http://json-schema.org/draft-04/schema#",
		"http://json-schema.org/draft-06/schema#",
		"http://json-schema.org/draft-07/schema#",
		"https://json-schema.org/draft/2019-09/schema",
		"https://json-schema.org/draft/2020-12/schema",
	}
	var wg sync.WaitGroup
	for _, draft := range drafts {
		for _, addFirst := range []bool{true, false} {
			wg.Go(func() {
				if err := checkDraft(draft, addFirst); err != nil {
					t.Errorf("%s (AddResource first: %v): %v", draft, addFirst, err)
				}
			})
		}
	}
	wg.Wait()
}

func checkDraft(draft string, addFirst bool) error {
	compile := func(doc string) (*jsonschema.Schema, error) {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err != nil {
			return nil, err
		}
		c := jsonschema.NewCompiler()
		if addFirst {
			if err := c.AddResource("values.schema.json", v); err != nil {
				return nil, err
			}
		} else {
			c.UseLoader(jsonschema.SchemeURLLoader{"file": docLoader{v}})
		}
		return c.Compile("values.schema.json")
	}

	_, err := compile(`{"$schema": "` + draft + `", "type": 5}`)
	var invalid *jsonschema.SchemaValidationError
	if !errors.As(err, &invalid) {
		return fmt.Errorf(`a schema of "type": 5 compiled: %v`, err)
	}

	sch, err := compile(`{"$schema": "` + draft + `", "type": "object",
		"properties": {"replicas": {"type": "integer", "minimum": 1}}, "required": ["replicas"]}`)
	if err != nil {
		return err
	}
	for doc, valid := range map[string]bool{`{"replicas": 2}`: true, `{"replicas": 0}`: false, `{}`: false} {
		v, _ := jsonschema.UnmarshalJSON(strings.NewReader(doc))
		if err := sch.Validate(v); (err == nil) != valid {
			return fmt.Errorf("%s: valid %v, got %v", doc, valid, err)
		}
	}
	return nil
}

// docLoader serves one document whatever the URL: the schema compiled
// without AddResource.
type docLoader struct{ doc any }

func (l docLoader) Load(string) (any, error) { return l.doc, nil }
