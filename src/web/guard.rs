//! Defences of the form against bots and floods.
