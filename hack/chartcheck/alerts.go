package main

// checkAlerts: the chart's PrometheusRule (rendered with prometheusRule.enabled) has exactly
// the spec of config/prometheus/alerts.yaml.
func checkAlerts(alerts object, helm []object) []string {
	var rules []object
	for _, o := range helm {
		if str(o, "kind") == "PrometheusRule" {
			rules = append(rules, o)
		}
	}
	if len(rules) != 1 {
		return []string{"the chart renders no single PrometheusRule (render it with prometheusRule.enabled=true)"}
	}
	return diff("spec", get(alerts, "spec"), get(rules[0], "spec"))
}
