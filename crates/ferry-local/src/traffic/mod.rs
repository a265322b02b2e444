//! The traffic engine of ELBv2: each listener a real HTTP/1.1 reverse proxy on its load
//! balancer's address, health checks of every target over HTTP, and draining of
//! deregistered targets. It reads the records of `state::elb` and writes target health;
//! the API handlers (`elbv2`) never reach in here.
