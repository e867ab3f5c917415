"""What rclpy's LifecycleNode does not do for a node that any client may drive."""

from __future__ import annotations

from rclpy.lifecycle import LifecycleNode


def state_label(node: LifecycleNode) -> str:
    """The node's lifecycle state: unconfigured, inactive, active, finalized (or a transition)."""
    return node._state_machine.current_state[1]


def answer_unavailable_transitions(node: LifecycleNode) -> None:
    """Make ``node``'s change_state service answer success=false to a request by transition
    id that the current state does not have. rclpy 7.1 raises RCLError out of the executor for
    it (ending the node's spin), while the same request by label is answered success=false;
    lifecycle managers send ids."""
    service = node._service_change_state
    handle = service.callback

    def change_state(request, response):
        available = {t[0] for t in node._state_machine.available_transitions}
        if not request.transition.label and request.transition.id not in available:
            node.get_logger().warning(f"change_state: transition id {request.transition.id} is "
                                      f"not available in state {state_label(node)}; answered "
                                      "success=false")
            response.success = False
            return response
        return handle(request, response)

    service.callback = change_state
