"""Asset checks: data-quality gates that run beside the assets they guard."""
