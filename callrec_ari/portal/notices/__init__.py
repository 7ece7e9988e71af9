"""Uploaded notices (R2.7): the customer's upload and the operator's approval, pages and API."""
