package oauth

import "net/url"

// Bounds on the form of a token, revocation or introspection request,
// past the 64 KiB body limit: no request Gaia serves has more parameters,
// and none has a longer value than a token.
const (
	maxFormFields    = 16
	maxFormNameBytes = 64
	maxFormValue     = maxTokenLength
)

// checkFormLimits refuses a form with too many fields, or a name or value
// longer than any a real request has, with invalid_request.
func checkFormLimits(form url.Values) error {
	if len(form) > maxFormFields {
		return errRequest()
	}
	for k, vs := range form {
		if len(k) > maxFormNameBytes {
			return errRequest()
		}
		for _, v := range vs {
			if len(v) > maxFormValue {
				return errRequest()
			}
		}
	}
	return nil
}
