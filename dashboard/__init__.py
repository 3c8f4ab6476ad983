"""The Streamlit dashboard: a router (app.py), the caches and shared selection (state.py), thin views."""
