"""Upstream HORUS's helper methods of the messages, and horus.perception, as a user calls them."""

from __future__ import annotations

import math

import horus
import numpy as np
import pytest
from horus import perception


def test_pose2d_distance_is_planar_and_ignores_heading() -> None:
    assert horus.Pose2D(0.0, 0.0, 1.0).distance_to(horus.Pose2D(3.0, 4.0, -2.0)) == 5.0


def test_pose2d_normalize_angle_wraps_into_minus_pi_to_pi() -> None:
    pose = horus.Pose2D(0.0, 0.0, 3 * math.pi + 0.5)
    pose.normalize_angle()
    assert pose.theta == pytest.approx(-math.pi + 0.5)


def test_is_valid_is_false_for_a_nan_or_infinite_value() -> None:
    assert horus.Twist.new_2d(1.0, 0.5).is_valid()
    assert not horus.Twist(math.nan, 0.0, 0.0, 0.0, 0.0, 0.0).is_valid()
    assert not horus.Accel(0.0, math.inf, 0.0, 0.0, 0.0, 0.0).is_valid()


def test_origin_and_stop_constructors_are_zero_and_stamped() -> None:
    origin, stop = horus.Pose2D.origin(), horus.Twist.stop()
    assert (origin.x, origin.y, origin.theta) == (0.0, 0.0, 0.0)
    assert stop.linear_x == stop.angular_z == 0.0
    assert origin.timestamp_ns > 0 and stop.timestamp_ns > 0
    assert horus.CmdVel.zero().linear == 0.0


def test_vector3_products_and_normalization() -> None:
    x, y = horus.Vector3(1.0, 0.0, 0.0), horus.Vector3(0.0, 1.0, 0.0)
    assert x.cross(y) == horus.Vector3(0.0, 0.0, 1.0)
    assert x.dot(y) == 0.0
    v = horus.Vector3(3.0, 0.0, 4.0)
    assert v.magnitude() == 5.0
    unit = v.normalized()
    assert (unit.x, unit.y, unit.z) == pytest.approx((0.6, 0.0, 0.8))
    assert horus.Vector3.zero().normalized() == horus.Vector3.zero()
    v.normalize()
    assert v.magnitude() == pytest.approx(1.0)


def test_point3_distance() -> None:
    assert horus.Point3.origin().distance_to(horus.Point3(1.0, 2.0, 2.0)) == 3.0


def test_quaternion_from_yaw_matches_a_rotation_about_z() -> None:
    q = horus.Quaternion.from_euler(0.0, 0.0, math.pi / 2)
    assert (q.x, q.y) == (0.0, 0.0)
    assert (q.z, q.w) == pytest.approx((math.sqrt(0.5), math.sqrt(0.5)))
    assert horus.Quaternion.identity() == horus.Quaternion()


def test_quaternion_and_rotation_normalize_to_unit_length() -> None:
    q = horus.Quaternion(0.0, 0.0, 2.0, 0.0)
    q.normalize()
    assert q == horus.Quaternion(0.0, 0.0, 1.0, 0.0)
    t = horus.TransformStamped(1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 2.0)
    assert not t.is_valid()  # a rotation must be a unit quaternion
    t.normalize_rotation()
    assert t.is_valid() and t.rw == 1.0


def test_pose_2d_lifts_into_3d_with_its_heading_as_yaw() -> None:
    pose = horus.Pose2D(1.0, 2.0, math.pi, timestamp_ns=7)
    p3 = horus.Pose3D.from_pose_2d(pose)
    assert (p3.x, p3.y, p3.z, p3.timestamp_ns) == (1.0, 2.0, 0.0, 7)
    assert (p3.qz, p3.qw) == pytest.approx((1.0, 0.0))
    tf = horus.TransformStamped.from_pose_2d(pose)
    assert (tf.tx, tf.ty, tf.rz) == (1.0, 2.0, p3.qz)
    assert horus.Pose3D.identity().distance_to(p3) == pytest.approx(math.sqrt(5.0))


def test_covariance_variances_come_from_the_diagonal() -> None:
    cov = [0.0] * 36
    for i in range(6):
        cov[i * 7] = float(i + 1)
    pose = horus.PoseWithCovariance(covariance=cov)
    assert (pose.position_variance(), pose.orientation_variance()) == ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    twist = horus.TwistWithCovariance(covariance=cov)
    assert (twist.linear_variance(), twist.angular_variance()) == ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])


def test_imu_vectors_and_odometry_update() -> None:
    imu = horus.Imu(1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
    assert imu.linear_acceleration_vec() == horus.Vector3(1.0, 2.0, 3.0)
    assert imu.angular_velocity_vec() == horus.Vector3(4.0, 5.0, 6.0)
    odom = horus.Odometry()
    odom.update(horus.Pose2D(1.0, 2.0, 0.5), horus.Twist.new_2d(0.3, -0.1))
    assert (odom.x, odom.y, odom.theta, odom.linear_velocity, odom.angular_velocity) == (1.0, 2.0, 0.5, 0.3, -0.1)
    assert odom.timestamp_ns > 0 and odom.is_valid()


def test_laser_scan_angles_and_nearest_valid_range() -> None:
    scan = horus.LaserScan(-1.0, 1.0, 0.5, 0.2, 10.0, [0.1, 3.0, math.inf, 2.5])
    assert scan.angle_at(2) == 0.0 and scan.angle_at(3) == 0.5
    assert not scan.is_range_valid(0)  # below range_min
    assert scan.is_range_valid(1) and not scan.is_range_valid(2)
    assert scan.min_range() == 2.5
    assert horus.LaserScan(range_min=1.0, range_max=2.0).min_range() is None


def test_joint_state_looks_joints_up_by_name() -> None:
    js = horus.JointState(["shoulder", "elbow"], [0.1, 0.2], [1.0, 2.0], [5.0, 6.0])
    assert (js.position("elbow"), js.velocity("shoulder"), js.effort("elbow")) == (0.2, 1.0, 6.0)
    assert js.position("wrist") is None


def test_clock_constructors_and_elapsed_time() -> None:
    sim = horus.Clock.sim_time(5_000, 2.0)
    assert (sim.clock_ns, sim.sim_speed, sim.source) == (5_000, 2.0, 1)
    assert horus.Clock.replay_time(1, 1.0).source == 2
    assert horus.Clock.wall_clock().source == 0
    assert sim.elapsed_since(horus.Clock.sim_time(2_000, 2.0)) == 3_000
    assert horus.Clock.sim_time(2_000, 1.0).elapsed_since(sim) == 0  # never negative
    assert horus.Clock(paused=True).is_paused()


def test_motor_servo_and_drive_commands() -> None:
    assert (horus.MotorCommand.velocity(3, 2.5).mode, horus.MotorCommand.position(3, 1.0, 2.0).mode) == (0, 1)
    stop = horus.MotorCommand.stop(3)
    assert (stop.target, stop.enable) == (0.0, False)
    assert not horus.MotorCommand.velocity(3, 2.5).is_valid()  # no limits (inf), as upstream
    assert horus.ServoCommand.with_speed(1, 0.5, 7.0).speed == 1.0
    assert horus.ServoCommand.from_degrees(1, 180.0).position == pytest.approx(math.pi)
    assert not horus.ServoCommand.disable(1).enable
    drive = horus.DifferentialDriveCommand.from_twist(1.0, 2.0, 0.5, 0.1)
    assert (drive.left_velocity, drive.right_velocity) == pytest.approx((5.0, 15.0))
    assert drive.is_valid() and not horus.DifferentialDriveCommand.stop().enable
    with pytest.raises(ValueError, match="wheel_radius"):
        horus.DifferentialDriveCommand.from_twist(1.0, 0.0, 0.5, 0.0)


def test_pid_presets_and_limits() -> None:
    pi = horus.PidConfig.pi(2.0, 0.5)
    assert (pi.kp, pi.ki, pi.kd) == (2.0, 0.5, 0.0)
    assert not pi.is_valid()  # unlimited (inf) integral and output, as upstream
    limited = pi.with_limits(1.0, 10.0)
    assert limited.is_valid() and pi.output_limit == math.inf
    assert not horus.PidConfig.proportional(-1.0).with_limits(1.0, 1.0).is_valid()
    assert horus.PidConfig.pd(1.0, 0.2).kd == 0.2


def test_trajectory_point_constructors() -> None:
    point = horus.TrajectoryPoint.new_2d(1.0, 2.0, 0.5, 0.0, 3.0)
    assert (point.position, point.velocity, point.time_from_start) == ([1.0, 2.0, 0.0], [0.5, 0.0, 0.0], 3.0)
    assert horus.TrajectoryPoint.stationary(1.0, 2.0, 3.0).orientation == [0.0, 0.0, 0.0, 1.0]


def test_range_sensor_reading_must_be_within_its_limits() -> None:
    assert horus.RangeSensor(1.0).is_valid()
    assert not horus.RangeSensor(5.0).is_valid()  # past the default 4 m


def test_battery_is_critical_below_ten_percent() -> None:
    assert horus.BatteryState(12.0, 9.9).is_critical()
    assert not horus.BatteryState(12.0, 10.0).is_critical()
    assert horus.BatteryState(12.0, 19.0).is_low(20.0) and not horus.BatteryState(12.0, 20.0).is_low(20.0)


def test_gps_fix_distance_and_accuracy() -> None:
    a = horus.NavSatFix.from_coordinates(0.0, 0.0, 10.0)
    assert a.has_fix() and not horus.NavSatFix().has_fix()
    one_degree = 6371000.0 * math.pi / 180.0
    assert a.distance_to(horus.NavSatFix.from_coordinates(1.0, 0.0, 0.0)) == pytest.approx(one_degree)
    assert horus.NavSatFix(hdop=2.0).horizontal_accuracy() == 10.0
    assert not horus.NavSatFix(91.0, 0.0).is_valid()


def test_heartbeat_update_counts_up() -> None:
    beat = horus.Heartbeat("node")
    beat.update(3.5)
    beat.update(4.0)
    assert (beat.sequence, beat.uptime) == (2, 4.0)


def test_diagnostic_and_estop_builders() -> None:
    status = horus.DiagnosticStatus.error(42, "motor hot").with_component("motor")
    assert (status.level, status.code, status.message_str(), status.component_str()) == (2, 42, "motor hot", "motor")
    assert (horus.DiagnosticStatus.ok("fine").level, horus.DiagnosticStatus.fatal(1, "x").level) == (0, 3)
    stop = horus.EmergencyStop.engage("bumper")
    sourced = stop.with_source("safety")
    assert (sourced.engaged, sourced.reason_str(), sourced.source, stop.source) == (True, "bumper", "safety", "")
    assert not horus.EmergencyStop.release().engaged


def test_resource_usage_is_high_strictly_above_the_threshold() -> None:
    usage = horus.ResourceUsage(cpu_percent=90.0, memory_percent=50.0, temperature=70.0)
    assert usage.is_cpu_high(80.0) and not usage.is_memory_high(50.0) and usage.is_temperature_high(60.0)


def test_wrench_magnitudes_limits_and_filter() -> None:
    wrench = horus.WrenchStamped.force_only(horus.Vector3(3.0, 4.0, 0.0))
    assert (wrench.force_magnitude(), wrench.torque_magnitude()) == (5.0, 0.0)
    assert wrench.exceeds_limits(4.0, 1.0) and not wrench.exceeds_limits(5.0, 1.0)
    assert horus.WrenchStamped.torque_only(horus.Vector3(0.0, 0.0, 2.0)).torque_magnitude() == 2.0
    wrench.filter(horus.WrenchStamped(), 0.25)
    assert (wrench.fx, wrench.fy) == (0.75, 1.0)


def test_force_command_surface_contact_and_timeout() -> None:
    command = horus.ForceCommand.surface_contact(10.0, horus.Vector3(0.0, 0.0, 2.0))
    assert (command.fx, command.fz) == (0.0, 10.0)
    timed = command.with_timeout(1.5)
    assert (timed.timeout_seconds, command.timeout_seconds) == (1.5, 0.0)
    timed.timeout_seconds = 2.0
    assert timed.timeout == 2.0
    assert horus.ForceCommand.force_only(horus.Vector3(1.0, 0.0, 0.0)).fx == 1.0


def test_tracked_object_update_and_miss_count_hits_and_age() -> None:
    track = horus.TrackedObject(1, 0.0, 0.0, 10.0, 10.0)
    track.update(horus.BoundingBox2D(4.0, 2.0, 10.0, 10.0), 0.9)
    assert (track.hits, track.age, track.velocity, track.bbox.x) == (2, 2, (4.0, 2.0), 4.0)
    track.mark_missed()
    track.mark_missed()
    assert (track.age, track.time_since_update, track.is_tentative()) == (4, 2, True)
    track.confirm()
    assert track.is_confirmed()
    track.delete()
    assert track.is_deleted()


def test_nav_path_closest_waypoint_and_progress() -> None:
    path = horus.NavPath()
    assert path.closest_waypoint_index(horus.Pose2D(0.0, 0.0, 0.0)) is None
    for x in range(4):
        path.add_waypoint(horus.Waypoint(float(x), 0.0))
    here = horus.Pose2D(2.2, 0.5, 0.0)
    assert path.closest_waypoint_index(here) == 2
    assert path.calculate_progress(here) == 0.5


def test_bounding_box_geometry_and_iou() -> None:
    box = horus.BoundingBox2D.from_center(10.0, 10.0, 4.0, 2.0)
    assert box.as_tuple() == (8.0, 9.0, 4.0, 2.0) and box.as_xyxy() == (8.0, 9.0, 12.0, 11.0)
    assert (box.center_x, box.center_y) == (10.0, 10.0)
    a, b = horus.BoundingBox2D(0.0, 0.0, 2.0, 2.0), horus.BoundingBox2D(1.0, 0.0, 2.0, 2.0)
    assert a.iou(b) == pytest.approx(2.0 / 6.0) and a.iou(a) == 1.0
    assert a.iou(horus.BoundingBox2D(5.0, 5.0, 1.0, 1.0)) == 0.0


def test_detection_and_landmark_thresholds() -> None:
    det = horus.Detection.from_bbox(horus.BoundingBox2D(1.0, 2.0, 3.0, 4.0), "cup", 0.5, class_id=41)
    assert (det.class_name, det.x, det.class_id) == ("cup", 1.0, 41)
    assert det.is_confident(0.5) and not det.is_confident(0.6)
    mark = horus.Landmark(0.0, 0.0, 0.4)
    assert mark.distance_to(horus.Landmark(3.0, 4.0)) == 5.0
    assert not mark.is_visible(0.5) and mark.is_visible(0.25)


def test_detection_list_filters_by_confidence_and_class() -> None:
    detections = perception.DetectionList.from_list(
        [
            perception.Detection("person", 0.9, 0, 0, 10, 10),
            perception.Detection("dog", 0.5, 0, 0, 5, 5),
            horus.Detection("person", 0.3, 1.0, 1.0, 2.0, 2.0),  # the message is taken too
        ]
    )
    assert [d.confidence for d in detections.filter_confidence(0.5)] == [0.9, 0.5]
    assert len(detections.filter_class("person")) == 2
    assert detections.to_dicts()[1]["bbox"] == (0.0, 0.0, 5.0, 5.0)


def test_detection_list_round_trips_through_bytes() -> None:
    detections = horus.DetectionList()
    detections.append(perception.Detection("person", 0.75, 1.0, 2.0, 3.0, 4.0, class_id=1, instance_id=7))
    data = detections.to_bytes()
    assert len(data) == 72
    back = perception.DetectionList.from_bytes(data)[0]
    assert (back.class_name, back.confidence, back.bbox.as_tuple(), back.instance_id) == (
        "person",
        0.75,
        (1.0, 2.0, 3.0, 4.0),
        7,
    )
    with pytest.raises(ValueError, match="72 bytes"):
        perception.Detection.from_bytes(data[:70])


def test_perception_box_has_area_as_a_property() -> None:
    box = perception.BoundingBox2D.from_center(5.0, 5.0, 2.0, 3.0)
    assert (box.area, box.x, box.center_y) == (6.0, 4.0, 5.0)
    assert perception.BoundingBox2D(0, 0, 2, 2).iou(horus.BoundingBox2D(0.0, 0.0, 2.0, 1.0)) == 0.5


def test_point_cloud_buffer_round_trips_a_numpy_array() -> None:
    points = np.arange(12, dtype=np.float32).reshape(4, 3)
    cloud = horus.PointCloudBuffer.from_numpy(points, frame_id="lidar")
    assert len(cloud) == 4 and cloud.frame_id == "lidar"
    assert np.array_equal(cloud.to_numpy(), points)
    assert cloud[1].as_tuple() == (3.0, 4.0, 5.0)
    cloud.add_point(1.0, 2.0, 3.0)
    assert cloud.to_numpy().shape == (5, 3)
    assert len(cloud.to_bytes()) == 64 + 5 * 12
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        horus.PointCloudBuffer.from_numpy(np.zeros((4, 2)))


def test_point_cloud_drops_the_intensity_column() -> None:
    cloud = horus.PointCloudBuffer.from_numpy(np.ones((2, 4)))
    assert cloud.to_numpy().shape == (2, 3)
    with pytest.raises(IndexError):
        cloud[2]


def test_points_distances_and_colours() -> None:
    assert horus.PointXYZ(3.0, 4.0, 0.0).distance() == 5.0
    assert horus.PointXYZ().distance_to(horus.PointXYZ(0.0, 0.0, 2.0)) == 2.0
    coloured = horus.PointXYZRGB(1.0, 2.0, 3.0, r=10)
    assert coloured.rgb() == (10, 255, 255) and coloured.xyz().as_tuple() == (1.0, 2.0, 3.0)
    with pytest.raises(OverflowError):
        horus.PointXYZRGB(r=256)


def test_perception_tracked_object_starts_tentative_with_age_zero() -> None:
    track = perception.TrackedObject(5, perception.BoundingBox2D(0, 0, 4, 4), "car", 0.8)
    assert (track.age, track.hits, track.is_tentative()) == (0, 1, True)
    track.update(perception.BoundingBox2D(2, 0, 4, 4), 0.85)
    track.mark_missed()
    assert (track.age, track.hits, track.velocity, track.speed()) == (2, 2, (2.0, 0.0), 2.0)


def test_coco_pose_indices_and_perception_exports() -> None:
    assert (horus.COCOPose.NOSE, horus.COCOPose.RIGHT_ANKLE, horus.COCOPose.NUM_KEYPOINTS) == (0, 16, 17)
    assert horus.BoundingBox2D is not perception.BoundingBox2D  # the top-level one is the message
    assert {"perception", "DetectionList", "PointCloudBuffer", "COCOPose"} <= set(horus.__all__)
