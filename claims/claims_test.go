package claims

import (
	"encoding/json"
	"testing"
)

func TestHas(t *testing.T) {
	a := &Access{Permissions: []string{"iam.user.read", "inventory.read", "inventory.write"}}
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"inventory.read", true},
		{"inventory.write", true},
		{"inventory", false},
		{"inventory.*", false},
		{"inventory.read.all", false},
		{"Inventory.read", false},
		{"", false},
	} {
		if got := a.Has(tc.p); got != tc.want {
			t.Errorf("Has(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
	unsorted := &Access{Permissions: []string{"z.z", "a.a"}}
	if !unsorted.Has("a.a") || !unsorted.Has("z.z") {
		t.Error("Has missed a permission of an unsorted list")
	}
	if !a.HasAll("inventory.read", "iam.user.read") || a.HasAll("inventory.read", "x.y") {
		t.Error("HasAll wrong")
	}
	if !a.HasAny("x.y", "inventory.write") || a.HasAny("x.y") || a.HasAny() {
		t.Error("HasAny wrong")
	}
}

func TestJSONShape(t *testing.T) {
	svc := Access{Issuer: "https://iam", Subject: "svc", Audience: []string{"gaia"}, ClientID: "svc", Expiry: 2, IssuedAt: 1, ID: "j", Type: Service, Roles: []string{}, Permissions: []string{}}
	b, err := json.Marshal(svc)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"iss":"https://iam","sub":"svc","aud":["gaia"],"client_id":"svc","exp":2,"iat":1,"jti":"j","type":"service","roles":[],"permissions":[]}`
	if string(b) != want {
		t.Errorf("service claims = %s\nwant %s", b, want)
	}
}
