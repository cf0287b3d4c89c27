"""The image subscription: rclpy's standard QoS overrides, matched to the camera's reliability.

A reliable subscription never matches a best-effort camera (incompatible QoS: nothing
arrives), and a best-effort subscription to a reliable camera turns its delivery into best
effort, which loses most raw VGA frames with Fast DDS's default settings. So, as image_proc
does, the reliability follows the publishers found on the topic: reliable when all of them are
reliable (also when there is none yet), best effort as soon as one is best effort. The graph
is checked again twice a second (the node's graph check), and the subscription is re-created
when the answer changes.

The user can still decide: the standard override parameters
``qos_overrides.<topic>.subscription.{reliability,history,depth}`` are declared at configure
(read-only, as rclpy does). ``reliability`` defaults to ``system_default``, which here means
"match the publishers"; ``reliable`` or ``best_effort`` fix it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions

try:  # rclpy >= Iron
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks  # type: ignore[no-redef]

try:
    from rclpy.event_handler import UnsupportedEventTypeError
except ImportError:  # Humble
    from rclpy.qos_event import UnsupportedEventTypeError  # type: ignore[no-redef]

DEFAULT_DEPTH = 5


def default_profile() -> QoSProfile:
    """Keep the last 5 frames; reliability "system default" = match the publishers."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=DEFAULT_DEPTH,
        reliability=ReliabilityPolicy.SYSTEM_DEFAULT,
    )


def matching_reliability(publishers: list[Any]) -> ReliabilityPolicy:
    """Reliable if every publisher is reliable (or there is none yet), else best effort."""
    if all(p.qos_profile.reliability == ReliabilityPolicy.RELIABLE for p in publishers):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


class InputSubscription:
    """Owns the node's image subscription (created at activate, re-created when the camera's
    reliability changes, destroyed at deactivate)."""

    def __init__(
        self,
        node: Any,
        msg_type: type,
        topic: str,
        on_message: Callable[[Any], None],
        on_lost: Callable[[int], None],
    ) -> None:
        """Resolve the topic and the QoS overrides now (configure), subscribe later."""
        self.node = node
        self.msg_type = msg_type
        self.on_message = on_message
        self.on_lost = on_lost
        # Creating the subscription once declares the standard override parameters and applies
        # them exactly as rclpy does; the resolved profile is kept, the probe is not.
        probe = node.create_subscription(
            msg_type,
            topic,
            lambda _msg: None,
            default_profile(),
            qos_overriding_options=QoSOverridingOptions.with_default_policies(),
        )
        self.topic = probe.topic_name
        self.profile: QoSProfile = copy.copy(probe.qos_profile)
        node.destroy_subscription(probe)
        self.follows_publishers = self.profile.reliability == ReliabilityPolicy.SYSTEM_DEFAULT
        self.subscription: Any = None

    @property
    def reliability(self) -> str:
        if self.subscription is None:
            return "none"
        return self.subscription.qos_profile.reliability.name.lower()

    def publisher_count(self) -> int:
        return self.subscription.get_publisher_count() if self.subscription else 0

    def start(self) -> None:
        self._subscribe(self._wanted())

    def stop(self) -> None:
        if self.subscription is not None:
            self.node.destroy_subscription(self.subscription)
            self.subscription = None

    def recheck(self) -> str | None:
        """Follow the publishers' reliability; returns a note when the subscription changed."""
        if self.subscription is None or not self.follows_publishers:
            return None
        wanted = self._wanted()
        if wanted == self.subscription.qos_profile.reliability:
            return None
        self.stop()
        self._subscribe(wanted)
        return f"input {self.topic}: publishers are now {wanted.name.lower()}, subscription follows"

    def _wanted(self) -> ReliabilityPolicy:
        if not self.follows_publishers:
            return self.profile.reliability
        return matching_reliability(self.node.get_publishers_info_by_topic(self.topic))

    def _subscribe(self, reliability: ReliabilityPolicy) -> None:
        profile = copy.copy(self.profile)
        profile.reliability = reliability
        callbacks = SubscriptionEventCallbacks(
            incompatible_qos=self._on_incompatible, message_lost=self._on_message_lost
        )
        try:
            self.subscription = self.node.create_subscription(
                self.msg_type, self.topic, self.on_message, profile, event_callbacks=callbacks
            )
        except UnsupportedEventTypeError:  # a middleware without the message-lost event
            callbacks = SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible)
            self.subscription = self.node.create_subscription(
                self.msg_type, self.topic, self.on_message, profile, event_callbacks=callbacks
            )

    def _on_incompatible(self, info: Any) -> None:
        # While following the publishers the next graph check adapts (no warning needed);
        # with a reliability fixed by the user, say why nothing arrives from that camera.
        if not self.follows_publishers:
            self.node.get_logger().warning(
                f"a publisher on {self.topic} offers QoS incompatible with the subscription's "
                f"{self.reliability} (overridden by qos_overrides): no frames from it"
            )

    def _on_message_lost(self, info: Any) -> None:
        if int(info.total_count_change) > 0:
            self.on_lost(int(info.total_count_change))
