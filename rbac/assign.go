package rbac

import (
	"context"
	"fmt"
	"slices"

	"github.com/gaia-platform/iam/storage"
)

// AddDepartment puts the user in the department with the given code. The
// actor may not change its own departments, nor those of a user holding a
// permission the actor lacks (a *DelegationError).
func (s *Service) AddDepartment(ctx context.Context, a Actor, userID, code string) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.lockUser(ctx, userID); err != nil {
			return err
		}
		if err := s.mayActOnUser(ctx, a, userID, true); err != nil {
			return err
		}
		d, err := s.store.GetDepartmentByCode(ctx, code)
		if err != nil {
			return fmt.Errorf("department %s: %w", code, err)
		}
		if err := s.store.AddUserDepartment(ctx, userID, d.ID); err != nil {
			return fmt.Errorf("add user %s to department %s: %w", userID, code, err)
		}
		return nil
	})
}

// RemoveDepartment takes the user out of a department. Roles the user holds
// that no remaining department allows make it fail with a
// *DependentRolesError, unless cascade is set, in which case those roles are
// unassigned too and returned. The delegation rules are AddDepartment's.
func (s *Service) RemoveDepartment(ctx context.Context, a Actor, userID, code string, cascade bool) (unassigned []string, err error) {
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		u, err := s.lockedUser(ctx, userID)
		if err != nil {
			return err
		}
		if err := s.mayActOnUser(ctx, a, userID, true); err != nil {
			return err
		}
		d, err := s.store.GetDepartmentByCode(ctx, code)
		if err != nil {
			return fmt.Errorf("department %s: %w", code, err)
		}
		if err := s.store.RemoveUserDepartment(ctx, userID, d.ID); err != nil {
			return fmt.Errorf("remove user %s from department %s: %w", userID, code, err)
		}
		held, err := s.store.UserRoles(ctx, userID)
		if err != nil {
			return fmt.Errorf("roles of user %s: %w", userID, err)
		}
		remaining, err := s.store.UserDepartments(ctx, userID)
		if err != nil {
			return fmt.Errorf("departments of user %s: %w", userID, err)
		}
		var orphans []storage.Role
		for _, r := range held {
			if ok, err := s.allowedBy(ctx, r.ID, remaining); err != nil {
				return err
			} else if !ok {
				orphans = append(orphans, r)
			}
		}
		if len(orphans) == 0 {
			return nil
		}
		if !cascade {
			e := &DependentRolesError{Username: u.Username, Department: code}
			for _, r := range orphans {
				e.Roles = append(e.Roles, r.Name)
			}
			return e
		}
		for _, r := range orphans {
			if err := s.store.UnassignUserRole(ctx, userID, r.ID); err != nil {
				return fmt.Errorf("unassign role %s from user %s: %w", r.Name, userID, err)
			}
			unassigned = append(unassigned, r.Name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return unassigned, nil
}

// AssignRole gives the user a role, if one of the user's departments allows
// it; otherwise it fails with a *RoleNotAllowedError naming user, role and
// departments. The actor must hold every permission of the role, may not
// change its own roles, and may not act on a user holding a permission it
// lacks (a *DelegationError).
func (s *Service) AssignRole(ctx context.Context, a Actor, userID, roleName string) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		u, err := s.lockedUser(ctx, userID)
		if err != nil {
			return err
		}
		if err := s.mayActOnUser(ctx, a, userID, true); err != nil {
			return err
		}
		if err := checkGrant(ctx, s.store, a, roleName); err != nil {
			return err
		}
		r, err := s.store.GetRoleByName(ctx, roleName)
		if err != nil {
			return fmt.Errorf("role %s: %w", roleName, err)
		}
		depts, err := s.store.UserDepartments(ctx, userID)
		if err != nil {
			return fmt.Errorf("departments of user %s: %w", userID, err)
		}
		ok, err := s.allowedBy(ctx, r.ID, depts)
		if err != nil {
			return err
		}
		if !ok {
			e := &RoleNotAllowedError{Username: u.Username, Role: r.Name}
			for _, d := range depts {
				e.Departments = append(e.Departments, d.Code)
			}
			return e
		}
		if err := s.store.AssignUserRole(ctx, userID, r.ID); err != nil {
			return fmt.Errorf("assign role %s to user %s: %w", roleName, userID, err)
		}
		return nil
	})
}

// UnassignRole takes a role from the user, under AddDepartment's
// delegation rules.
func (s *Service) UnassignRole(ctx context.Context, a Actor, userID, roleName string) error {
	return s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.lockUser(ctx, userID); err != nil {
			return err
		}
		if err := s.mayActOnUser(ctx, a, userID, true); err != nil {
			return err
		}
		r, err := s.store.GetRoleByName(ctx, roleName)
		if err != nil {
			return fmt.Errorf("role %s: %w", roleName, err)
		}
		if err := s.store.UnassignUserRole(ctx, userID, r.ID); err != nil {
			return fmt.Errorf("unassign role %s from user %s: %w", roleName, userID, err)
		}
		return nil
	})
}

// allowedBy reports whether any of depts allows the role.
func (s *Service) allowedBy(ctx context.Context, roleID string, depts []storage.Department) (bool, error) {
	if len(depts) == 0 {
		return false, nil
	}
	allowing, err := s.store.DepartmentsAllowing(ctx, roleID)
	if err != nil {
		return false, fmt.Errorf("departments allowing role %s: %w", roleID, err)
	}
	for _, a := range allowing {
		if slices.ContainsFunc(depts, func(d storage.Department) bool { return d.ID == a.ID }) {
			return true, nil
		}
	}
	return false, nil
}

// lockUser serializes changes to one user's departments and roles, so that
// an assignment and a department removal racing on two servers cannot both
// pass the rule and leave a role no department allows.
func (s *Service) lockUser(ctx context.Context, userID string) error {
	_, err := s.lockedUser(ctx, userID)
	return err
}

func (s *Service) lockedUser(ctx context.Context, userID string) (*storage.User, error) {
	if err := s.store.Lock(ctx, "user:"+userID); err != nil {
		return nil, fmt.Errorf("lock user %s: %w", userID, err)
	}
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", userID, err)
	}
	return u, nil
}
