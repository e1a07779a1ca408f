"""Kaapana executor for Apache Airflow and the Kaapana task API."""
