//! tower-github-auth inside octocrab, and side by side with octocrab's own App auth.
