package dashboards

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// TestWorklistLinksToTrend: the liaison worklist's referrer ids link to the
// sources dashboard with the referrer variable set to the id, percent-encoded;
// the dashboard defines that variable as free text, and the referrer trend
// panel's SQL reads it, so the link shows that referrer's trend.
func TestWorklistLinksToTrend(t *testing.T) {
	var model struct {
		Templating struct {
			List []struct{ Name, Type string } `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title       string `json:"title"`
			FieldConfig struct {
				Overrides []struct {
					Matcher    struct{ Options string } `json:"matcher"`
					Properties []struct {
						ID    string          `json:"id"`
						Value json.RawMessage `json:"value"`
					} `json:"properties"`
				} `json:"overrides"`
			} `json:"fieldConfig"`
			Targets []struct {
				RawSQL string `json:"rawSql"`
			} `json:"targets"`
		} `json:"panels"`
	}
	for _, d := range build(t) {
		if d.UID != uidSources {
			continue
		}
		b, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &model); err != nil {
			t.Fatal(err)
		}
	}
	textbox := false
	for _, v := range model.Templating.List {
		textbox = textbox || v.Name == varReferrer && v.Type == "textbox"
	}
	if !textbox {
		t.Errorf("the sources dashboard has no textbox variable %s", varReferrer)
	}
	var link, trendSQL string
	for _, p := range model.Panels {
		switch p.Title {
		case "Liaison worklist":
			for _, o := range p.FieldConfig.Overrides {
				for _, prop := range o.Properties {
					if o.Matcher.Options == "referrer_id" && prop.ID == "links" {
						var links []struct{ URL string }
						if err := json.Unmarshal(prop.Value, &links); err != nil || len(links) != 1 {
							t.Fatalf("referrer_id links %s: %v", prop.Value, err)
						}
						link = links[0].URL
					}
				}
			}
		case "Referrer trend":
			trendSQL = p.Targets[0].RawSQL
		}
	}
	u, err := url.Parse(link)
	if err != nil || u.Path != "/d/"+uidSources || !strings.Contains(u.RawQuery, "var-"+varReferrer+"=${__value.raw:percentencode}") {
		t.Errorf("worklist link %q: want /d/%s setting var-%s to the percent-encoded id (%v)", link, uidSources, varReferrer, err)
	}
	id := "R-0042'"
	sql, err := Substitute(trendSQL, Vars{Referrer: id})
	if err != nil || !strings.Contains(sql, "referrer_id = decodeURLComponent('R-0042%27')") {
		t.Errorf("referrer trend SQL for %q: %v\n%s", id, err, sql)
	}
}
