"""The dashboards (issue 19): a customer's calls and deliveries over the last 30 days, and the
operator's view of the whole platform with the service's health. SVG charts drawn on the server."""
