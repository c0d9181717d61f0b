package apply

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// maskError replaces the values of the Secret obj wherever err quotes them,
// as an invalid-object answer of the API server may ("expected string, got
// &value.valueUnstructured{Value:1234}"). Call it once err has been
// classified: the chain keeps its types (an ObjectError stays terminal or
// not, an API status keeps its code, reason and causes), but every error in
// it says only the masked text. Errors about other objects are returned as
// they are.
func maskError(obj *unstructured.Unstructured, err error) error {
	if err == nil || !isSecret(obj) {
		return err
	}
	r := secretReplacer(obj)
	if !quotes(r, err) {
		return err
	}
	return maskChain(r, err)
}

// quotes reports whether err, or the causes of an API status in its chain,
// say something r replaces.
func quotes(r *strings.Replacer, err error) bool {
	if r.Replace(err.Error()) != err.Error() {
		return true
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		if r.Replace(c.Message) != c.Message {
			return true
		}
	}
	return false
}

func maskChain(r *strings.Replacer, err error) error {
	switch e := err.(type) {
	case nil:
		return nil
	case *ObjectError:
		masked := *e
		masked.Err = maskChain(r, e.Err)
		return &masked
	case apierrors.APIStatus:
		return &apierrors.StatusError{ErrStatus: maskStatus(r, e.Status())}
	case interface{ Unwrap() []error }:
		var inner []error
		for _, in := range e.Unwrap() {
			inner = append(inner, maskChain(r, in))
		}
		return &maskedError{msg: r.Replace(err.Error()), inner: inner}
	}
	msg, inner := r.Replace(err.Error()), errors.Unwrap(err)
	switch {
	case inner != nil: // it may hold a status whose causes quote values
		return &maskedError{msg: msg, inner: []error{maskChain(r, inner)}}
	case msg != err.Error():
		return &maskedError{msg: msg}
	}
	return err
}

// maskStatus is st with its messages masked.
func maskStatus(r *strings.Replacer, st metav1.Status) metav1.Status {
	out := *st.DeepCopy()
	out.Message = r.Replace(out.Message)
	if out.Details != nil {
		for i := range out.Details.Causes {
			out.Details.Causes[i].Message = r.Replace(out.Details.Causes[i].Message)
		}
	}
	return out
}

// maskedError is an error whose message had a Secret's values replaced; it
// unwraps to the errors it wrapped, masked too.
type maskedError struct {
	msg   string
	inner []error
}

func (e *maskedError) Error() string   { return e.msg }
func (e *maskedError) Unwrap() []error { return e.inner }

// secretReplacer replaces every value of the Secret, in every form a message
// may quote it (as written, base64-decoded or encoded, Go- or JSON-quoted),
// with "***", longest first.
func secretReplacer(obj *unstructured.Unstructured) *strings.Replacer {
	var forms []string
	for _, field := range []string{"data", "stringData"} {
		forEachLeaf(obj.Object[field], func(s string) {
			forms = append(forms, quotedForms(s)...)
			if b, err := base64.StdEncoding.DecodeString(s); err == nil && utf8.Valid(b) {
				forms = append(forms, quotedForms(string(b))...)
			}
			forms = append(forms, base64.StdEncoding.EncodeToString([]byte(s)))
		})
	}
	forms = slices.DeleteFunc(forms, func(s string) bool { return s == "" })
	slices.SortFunc(forms, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
	forms = slices.Compact(forms)
	args := make([]string, 0, 2*len(forms))
	for _, f := range forms {
		args = append(args, f, mask)
	}
	return strings.NewReplacer(args...)
}

// quotedForms is s as written, and the inside of its Go and JSON quotings.
func quotedForms(s string) []string {
	q := strconv.Quote(s)
	j, _ := json.Marshal(s)
	return []string{s, q[1 : len(q)-1], string(j[1 : len(j)-1])}
}

// forEachLeaf calls f with the text of every scalar in v.
func forEachLeaf(v any, f func(string)) {
	switch v := v.(type) {
	case nil:
	case map[string]any:
		for _, e := range v {
			forEachLeaf(e, f)
		}
	case []any:
		for _, e := range v {
			forEachLeaf(e, f)
		}
	case string:
		f(v)
	default:
		f(fmt.Sprint(v))
	}
}
