"""Classical, non-learned diagnostic rankers: the floor any agent or retrieval policy has to beat."""
